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
        return _st.integers()
    if t == "number":
        return _st.one_of(_st.integers(), _st.floats(allow_nan=False, allow_infinity=False))
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
