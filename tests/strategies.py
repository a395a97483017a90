"""Hypothesis strategies shared by the test suite. Append yours in a section of its own."""

from __future__ import annotations

import json as _json
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


# --- hostile Flow requests (tests/security/test_flow_fuzz.py) ----------------------------------

HUGE_INTEGER_TEXT = "1180591620717411303424"  # 2**70, the number of issue 12


class Spliced:
    """A part of a hostile body written as raw JSON text by `hostile_body`, shown by a short
    label: as Python values, deep nesting overflows repr() and long texts bloat Hypothesis's
    reports."""

    def __init__(self, label: str, text: str) -> None:
        self.label = label
        self.text = text

    def __repr__(self) -> str:
        return self.label


def Deep(depth: int) -> Spliced:
    """JSON nested `depth` levels, alternating objects and arrays."""
    half = depth // 2
    return Spliced(f"Deep({depth})", '{"d": [' * half + "[]" + "]}" * half)


def Digits(count: int, prefix: str = "") -> Spliced:
    """A JSON string of `count` digits (after `prefix`)."""
    return Spliced(f"Digits({count}, {prefix!r})", f'"{prefix}{"7" * count}"')


def hostile_body(value: _Any) -> bytes:
    """The JSON text of a hostile value: big integers exact, `Deep` parts spliced in."""
    deep: list[Spliced] = []

    def mark(obj: _Any) -> str:
        if isinstance(obj, Spliced):
            deep.append(obj)
            return f"\u0000deep{len(deep) - 1}\u0000"
        raise TypeError(type(obj).__name__)

    text = _json.dumps(value, default=mark)
    for i, part in enumerate(deep):
        text = text.replace(f'"\\u0000deep{i}\\u0000"', part.text, 1)
    return text.encode()


HOSTILE_NUMBER_TEXTS: list[_Any] = [
    HUGE_INTEGER_TEXT,
    "-" + HUGE_INTEGER_TEXT,
    "9223372036854775808",
    "18446744073709551616",
    "NaN",
    "-Infinity",
    "inf",
    "1e999999",
    "-1e999999",
    "1e-999999",
    "1e300",
    Digits(4301),  # past CPython's int() limit
    Digits(400, "0."),
    "1_000",
    "0x1F",
    " 42 ",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "4.0",
    "-0",
    "",
    " ",
]


# Any JSON a client may send: unbounded integers (json.dumps writes them all), unicode text,
# some structures nested past what orjson can write back (254) or repr can print (~1000).
_shallow_json: _st.SearchStrategy[_Any] = _st.recursive(
    _st.none()
    | _st.booleans()
    | _st.integers()
    | _st.floats(allow_nan=False, allow_infinity=False)
    | _st.text(max_size=12)
    | _st.sampled_from(HOSTILE_NUMBER_TEXTS),
    lambda children: (
        _st.lists(children, max_size=3)
        | _st.dictionaries(_st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# one in ten nested past orjson's writing limit (254), up to its reading limit (1024)
hostile_json: _st.SearchStrategy[_Any] = _st.one_of(
    *[_shallow_json] * 9, _st.integers(250, 1020).map(Deep)
)


def _mostly(good: _st.SearchStrategy[_Any], bad: _st.SearchStrategy[_Any]) -> _Any:
    """Three times in four the well-formed part, so the fuzz reaches past the first check."""
    return _st.one_of(good, good, good, bad)


hostile_scalars = _st.one_of(
    _st.sampled_from(HOSTILE_NUMBER_TEXTS),
    _st.sampled_from(["true", "FALSE", "yes", "2026-12-01T20:00:00.000+01:00", "x"]),
    INT64.map(str),
    _st.floats(allow_nan=False, allow_infinity=False).map(repr),
    _st.text(max_size=16),
    hostile_json,
)


def hostile_values(names: list[str], depth: int = 2) -> _st.SearchStrategy[_Any]:
    """EngineValues / MObject properties: known or odd names, any contentValue, any objectData."""
    inner: _st.SearchStrategy[_Any] = (
        _st.lists(hostile_mobjects(names, depth - 1), max_size=2) if depth > 0 else _st.just([])
    )
    value = _st.fixed_dictionaries(
        {"developerName": _mostly(_st.sampled_from(names), hostile_json)},
        optional={
            "contentValue": hostile_scalars,
            "contentType": _st.sampled_from(
                ["ContentString", "ContentNumber", "ContentObject", "ContentList", "ContentBoolean"]
            )
            | hostile_json,
            "objectData": _mostly(_st.none() | inner, hostile_json),
        },
    )
    return _mostly(value, hostile_json)


def hostile_mobjects(names: list[str], depth: int = 2) -> _st.SearchStrategy[_Any]:
    return _mostly(
        _st.fixed_dictionaries(
            {},
            optional={
                "developerName": _mostly(_st.sampled_from(names), hostile_json),
                "externalId": _st.none() | _st.text(max_size=8) | hostile_scalars,
                "internalId": _mostly(_st.none(), hostile_json),
                "properties": _mostly(
                    _st.lists(hostile_values(names, depth), max_size=4), hostile_json
                ),
            },
        ),
        hostile_json,
    )


_CRITERIA = ["EQUAL", "NOT_EQUAL", "GREATER_THAN", "LESS_THAN_OR_EQUAL", "CONTAINS", "IS_EMPTY"]


def hostile_list_filters(columns: list[str]) -> _st.SearchStrategy[_Any]:
    """Flow list filters of every spelling, with odd columns, values, counts and nesting."""
    criterion = _st.fixed_dictionaries(
        {},
        optional={
            "columnName": _mostly(_st.sampled_from(columns), hostile_json),
            "criteriaType": _mostly(_st.sampled_from(_CRITERIA), hostile_json),
            "contentValue": hostile_scalars,
            "value": hostile_scalars,
        },
    )
    count = (
        _st.none() | _st.integers() | _mostly(_st.sampled_from(HOSTILE_NUMBER_TEXTS), hostile_json)
    )
    return _mostly(
        _st.recursive(
            _st.fixed_dictionaries(
                {},
                optional={
                    "id": _st.none() | hostile_scalars,
                    "comparisonType": _mostly(_st.sampled_from(["AND", "OR", "XOR"]), hostile_json),
                    "where": _mostly(_st.lists(criterion, max_size=3), hostile_json),
                    "search": _st.none() | _mostly(_st.text(max_size=8), hostile_json),
                    "orderByPropertyDeveloperName": _mostly(
                        _st.sampled_from(columns), hostile_json
                    ),
                    "orderByDirectionType": _mostly(
                        _st.sampled_from(["ASC", "DESC", "UP"]), hostile_json
                    ),
                    "orderBy": _st.lists(
                        _st.fixed_dictionaries(
                            {"columnName": _mostly(_st.sampled_from(columns), hostile_json)},
                            optional={
                                "direction": _mostly(
                                    _st.sampled_from(["ASC", "desc"]), hostile_json
                                )
                            },
                        ),
                        max_size=2,
                    ),
                    "limit": count,
                    "offset": count,
                },
            ),
            lambda inner: _st.fixed_dictionaries(
                {"listFilters": _st.lists(inner, max_size=2)},
                optional={"where": _st.lists(criterion, max_size=2)},
            ),
            max_leaves=4,
        ),
        hostile_json,
    )


def _request_facts() -> dict[str, _st.SearchStrategy[_Any]]:
    text = _st.text(max_size=12)
    return {
        "token": _mostly(text, hostile_json),
        "tenantId": _mostly(text, hostile_json),
        "stateId": _mostly(text, hostile_json),
        "culture": _mostly(
            _st.none() | _st.fixed_dictionaries({"language": text, "country": text}), hostile_json
        ),
        "configurationValues": _mostly(
            _st.lists(hostile_values(["label", "flag", "limit", "other"], 0), max_size=3),
            hostile_json,
        ),
        "annotations": hostile_json,
        "extra field": hostile_json,
    }


def hostile_service_requests(inputs: list[str]) -> _st.SearchStrategy[_Any]:
    """ServiceRequests (message actions): inputs by the names given, every field hostile."""
    return _mostly(
        _st.fixed_dictionaries(
            {},
            optional={
                **_request_facts(),
                "inputs": _mostly(_st.lists(hostile_values(inputs), max_size=6), hostile_json),
                "outcomes": _st.lists(hostile_json, max_size=2) | hostile_json,
            },
        ),
        hostile_json,
    )


def hostile_object_data_requests(type_name: str, properties: list[str]) -> _st.SearchStrategy[_Any]:
    """ObjectDataRequests (data load, save, delete) for one type."""
    return _st.fixed_dictionaries(
        {"objectDataType": _st.just({"developerName": type_name})},
        optional={
            **_request_facts(),
            "listFilter": _st.none() | hostile_list_filters(properties),
            "objectData": _mostly(
                _st.lists(hostile_mobjects(properties), min_size=1, max_size=3), hostile_json
            ),
        },
    ) | _st.fixed_dictionaries(
        {},
        optional={"objectDataType": hostile_json, "objectData": hostile_json, **_request_facts()},
    )


def hostile_file_data_requests() -> _st.SearchStrategy[_Any]:
    """FileDataRequests (file list)."""
    return _mostly(
        _st.fixed_dictionaries(
            {},
            optional={
                **_request_facts(),
                "resourcePath": _mostly(
                    _st.sampled_from(["/docs", "docs", "/nope", ""]), hostile_json
                ),
                "listFilter": _st.none() | hostile_list_filters(["Name", "Date Modified"]),
            },
        ),
        hostile_json,
    )
