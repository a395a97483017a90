"""Flow list filters normalised against a type's profile."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.flow.listfilter import FilterError, normalise

COLUMNS = {"id": "integer", "name": "string", "score": "number", "eu": "boolean"}


def _norm(raw: Any) -> dict[str, Any]:
    return normalise(raw, "Country", COLUMNS, "id")


def test_spellings_fold_into_one_shape_with_typed_values() -> None:
    raw = {
        "comparisonType": "OR",
        "where": [
            {
                "columnName": "name",
                "criteriaType": "EQUAL",
                "value": "France",
                "contentValue": None,
            },
            {"columnName": "score", "criteriaType": "GREATER_THAN", "contentValue": "12.5"},
        ],
        "listFilters": [
            {
                "comparisonType": "AND",
                "where": [
                    {"columnName": "eu", "criteriaType": "IS_EMPTY", "contentValue": "false"}
                ],
            },
            {"where": []},
        ],
        "orderByPropertyDeveloperName": "name",
        "orderByDirectionType": "",
        "limit": 0,
        "offset": 3,
        "search": "",
    }
    assert _norm(raw) == {
        "id": None,
        "where": {
            "op": "OR",
            "criteria": [
                {"property": "name", "criteria": "EQUAL", "value": "France"},
                {"property": "score", "criteria": "GREATER_THAN", "value": 12.5},
            ],
            "groups": [
                {
                    "op": "AND",
                    "criteria": [{"property": "eu", "criteria": "IS_EMPTY", "value": False}],
                    "groups": [],
                }
            ],
        },
        "search": None,
        "orderBy": [{"property": "name", "direction": "ASC"}],
        "limit": None,
        "offset": 3,
    }


def test_an_id_filter_is_typed_as_the_id_property() -> None:
    assert _norm({"id": "7", "where": [{"columnName": "nope"}]})["id"] == 7
    with pytest.raises(FilterError, match="not a number"):
        _norm({"id": "eyJpZCI6IjEifQ=="})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"where": [{"columnName": "colour", "criteriaType": "EQUAL"}]}, "'colour'"),
        (
            {"where": [{"columnName": "score", "criteriaType": "EQUAL", "contentValue": "x"}]},
            "'x' is not a number",
        ),
        ({"where": [{"columnName": "name", "criteriaType": "LIKE"}]}, "criteriaType"),
        (
            {"where": [{"columnName": "score", "criteriaType": "CONTAINS", "contentValue": "1"}]},
            "text property",
        ),
        ({"orderBy": [{"columnName": "name", "direction": "UP"}]}, "ASC or DESC"),
        ({"orderByPropertyDeveloperName": "'; DROP TABLE x"}, "not a property"),
        ({"limit": -1}, "negative"),
        ({"comparisonType": "XOR"}, "AND or OR"),
    ],
)
def test_filters_that_do_not_fit_the_type_are_refused_with_the_reason(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        _norm(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "id",
        "where",
        "listFilters",
        "comparisonType",
        "orderBy",
        "orderByPropertyDeveloperName",
        "orderByDirectionType",
        "limit",
        "offset",
        "search",
        "columnName",
        "criteriaType",
        "contentValue",
    ]
)
filters = st.dictionaries(keys, json_values | st.lists(st.dictionaries(keys, json_values)))


@given(filters)
def test_any_json_either_normalises_or_is_refused_as_a_filter_error(raw: dict[str, Any]) -> None:
    try:
        result = _norm(raw)
    except FilterError:
        return
    assert set(result) == {"id", "where", "search", "orderBy", "limit", "offset"}
