"""Hypothesis strategies shared by the test suite. Append yours in a section of its own."""

from __future__ import annotations

import string as _string
from datetime import UTC as _UTC
from typing import Any as _Any

from hypothesis import strategies as _st

# --- gateway.flow: JSON Schema profiles and documents valid for them ---------------------------

FLOW_SCALAR_SCHEMAS: list[dict[str, _Any]] = [
    {"type": "string"},
    {"type": "number"},
    {"type": "integer"},
    {"type": "boolean"},
    {"type": "string", "format": "date-time"},
]

# Integers a document holds exactly (gateway.flow.scalars refuses wider ones)
INT64 = _st.integers(-(2**63), 2**63 - 1)

# Flow developer names: readable when shrunk, spaces allowed (Boomi profiles use them)
flow_names = _st.text(
    alphabet=_string.ascii_letters + _string.digits + " _?", min_size=1, max_size=8
)


def _flow_object_schema(
    children: _st.SearchStrategy[dict[str, _Any]],
) -> _st.SearchStrategy[dict[str, _Any]]:
    def with_required(props: dict[str, _Any]) -> _st.SearchStrategy[dict[str, _Any]]:
        required = _st.sets(_st.sampled_from(sorted(props))) if props else _st.just(set())
        return required.map(
            lambda req: {"type": "object", "properties": props, "required": sorted(req)}
        )

    return _st.dictionaries(flow_names, children, max_size=5).flatmap(with_required)


def flow_profiles(max_leaves: int = 12) -> _st.SearchStrategy[dict[str, _Any]]:
    """Root `type: object` profiles: every scalar type, nested objects, arrays of objects."""
    properties = _st.recursive(
        _st.sampled_from(FLOW_SCALAR_SCHEMAS),
        lambda children: _st.one_of(
            _flow_object_schema(children),
            _flow_object_schema(children).map(lambda o: {"type": "array", "items": o}),
        ),
        max_leaves=max_leaves,
    )
    return _flow_object_schema(properties)


def _flow_value(schema: dict[str, _Any]) -> _st.SearchStrategy[_Any]:
    t = schema["type"]
    if t == "object":
        return flow_documents(schema)
    if t == "array":
        return _st.lists(flow_documents(schema["items"]), max_size=3)
    if t == "string" and schema.get("format") == "date-time":
        return _st.datetimes(timezones=_st.just(_UTC)).map(
            lambda d: d.isoformat(timespec="milliseconds")
        )
    if t == "string":
        return _st.text(max_size=12)
    if t == "integer":
        return INT64
    if t == "number":
        return _st.one_of(INT64, _st.floats(allow_nan=False, allow_infinity=False))
    return _st.booleans()


def flow_documents(schema: dict[str, _Any]) -> _st.SearchStrategy[dict[str, _Any]]:
    """Documents valid for an object schema: required keys always, optional ones sometimes."""
    required = set(schema.get("required", ()))
    props = schema.get("properties", {})
    return _st.fixed_dictionaries(
        {k: _flow_value(s) for k, s in props.items() if k in required},
        optional={k: _flow_value(s) for k, s in props.items() if k not in required},
    )


def flow_profiles_and_documents() -> _st.SearchStrategy[tuple[dict[str, _Any], dict[str, _Any]]]:
    return flow_profiles().flatmap(lambda p: _st.tuples(_st.just(p), flow_documents(p)))


# --- executors.runtime: valid packages (as plain data, ready for yaml.safe_dump) ---------------

RUNTIME_JQ_PROGRAMS = [
    ".",
    "{a: .x}",
    "[.]",
    "if .a then . else empty end",
    '"x" + ($props.k // "")',
]
RUNTIME_CONDITIONS = ["true", "false", ".a", ".x == 1", "$props.k != null"]

runtime_process_names = _st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")


def _runtime_leaf_steps(process_names: list[str]) -> _st.SearchStrategy[dict[str, _Any]]:
    programs = _st.sampled_from(RUNTIME_JQ_PROGRAMS)
    return _st.one_of(
        programs.map(lambda p: {"map": p}),
        _st.sampled_from(RUNTIME_CONDITIONS).map(lambda c: {"filter": c}),
        programs.map(lambda p: {"set": {"props": {"k": p}, "docprops": {"file_name": '"f"'}}}),
        programs.map(lambda p: {"log": {"level": "debug", "message": p}}),
        _st.just({"combine": {}}),
        _st.just({"combine": {"key": "items"}}),
        _st.just({"split": ".[]?"}),
        _st.just({"sleep": "0s"}),
        _st.just({"return": {}}),
        _st.just({"return": {"outcome": '"done"', "faults": "{}"}}),
        _st.sampled_from(process_names).map(lambda name: {"call": name}),
    )


def runtime_steps(process_names: list[str]) -> _st.SearchStrategy[list[dict[str, _Any]]]:
    """Valid step lists, nesting decision / route / branch / try around leaf steps."""
    step = _st.recursive(
        _runtime_leaf_steps(process_names),
        lambda inner: _st.one_of(
            _st.tuples(_st.sampled_from(RUNTIME_CONDITIONS), _st.lists(inner, max_size=2)).map(
                lambda t: {"decision": {"if": t[0], "then": t[1], "else": []}}
            ),
            _st.lists(_st.lists(inner, min_size=1, max_size=2), min_size=1, max_size=2).map(
                lambda branches: {"branch": branches}
            ),
            _st.lists(inner, min_size=1, max_size=2).map(
                lambda s: {"route": {"by": ".kind", "routes": {"a": s}, "default": s}}
            ),
            _st.lists(inner, min_size=1, max_size=2).map(
                lambda s: {"try": {"steps": s, "retries": 1, "backoff": "1ms", "catch": []}}
            ),
        ),
        max_leaves=6,
    )
    return _st.lists(step, min_size=1, max_size=4)


def runtime_packages() -> _st.SearchStrategy[dict[str, _Any]]:
    """Valid flowhost packages as data: processes, actions naming them, a profile."""

    def build(names: list[str]) -> _st.SearchStrategy[dict[str, _Any]]:
        processes = _st.fixed_dictionaries(
            {
                name: _st.fixed_dictionaries(
                    {"steps": runtime_steps(names)},
                    optional={
                        "mode": _st.sampled_from(["low-latency", "general"]),
                        "timeout": _st.sampled_from(["30s", "500ms", "2m", 5]),
                    },
                )
                for name in names
            }
        )
        actions = _st.lists(
            _st.sampled_from(names).map(lambda n: {"name": f"do-{n}", "process": n}),
            max_size=len(names),
            unique_by=lambda a: a["name"],
        )
        return _st.fixed_dictionaries(
            {
                "name": _st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,10}\Z"),
                "version": _st.from_regex(r"\A[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}\Z"),
                "service": _st.fixed_dictionaries(
                    {
                        "path": _st.from_regex(r"\A[A-Za-z0-9_-]{1,8}(/[a-z]{1,4})?\Z"),
                        "profiles": flow_profiles(max_leaves=4).map(lambda p: {"Thing": p}),
                        "actions": actions,
                    }
                ),
                "processes": processes,
            }
        )

    return _st.lists(runtime_process_names, min_size=1, max_size=3, unique=True).flatmap(build)
