"""Flow's list filter, as the gateway normalises it, applied to documents in memory.

The gateway turns Flow's ``listFilter`` into one plain shape (docs/packages.md, "The list
filter") after checking every property against the type's profile and typing every value::

    {"id": "42" | null,
     "where": {"op": "AND" | "OR",
               "criteria": [{"property": "name", "criteria": "EQUAL", "value": "France"}],
               "groups": [<where>, ...]} | null,
     "search": "fra" | null,
     "orderBy": [{"property": "name", "direction": "ASC" | "DESC"}],
     "limit": 20 | null,
     "offset": 0}

`apply` gives the same answer as the ``db`` step's push-down into SQL (a property test holds
the two together):

* a criterion on a missing or null value is false, except ``IS_EMPTY`` (null or ``""`` is
  empty); values of another JSON type than the profile's never match;
* ``CONTAINS`` / ``STARTS_WITH`` / ``ENDS_WITH`` are case-sensitive and only for strings;
  ``search`` matches any string property, ignoring ASCII case;
* ordering puts nulls first ascending and last descending, strings by code point, and ends
  with the id property so pages never overlap;
* ``limit`` + 1 documents are kept, so the gateway can tell Flow there are more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CRITERIA = (
    "EQUAL",
    "NOT_EQUAL",
    "GREATER_THAN",
    "GREATER_THAN_OR_EQUAL",
    "LESS_THAN",
    "LESS_THAN_OR_EQUAL",
    "CONTAINS",
    "STARTS_WITH",
    "ENDS_WITH",
    "IS_EMPTY",
)
TEXT_CRITERIA = ("CONTAINS", "STARTS_WITH", "ENDS_WITH")
TEXT_KINDS = ("string", "datetime")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class DataType:
    """A data action's type as the steps see it: its scalar columns and its id property."""

    name: str
    columns: dict[str, str]  # property -> kind: string | number | integer | boolean | datetime
    id: str


@dataclass
class DataRequest:
    """What a data action's process may use besides its documents: the type and the filter."""

    type: DataType
    filter: dict[str, Any] = field(default_factory=dict)


def ascii_lower(text: str) -> str:
    """Lower case for ASCII letters only: what SQLite's lower() does."""
    return text.translate(_ASCII_LOWER)


def _same_kind(value: Any, kind: str) -> bool:
    if kind in TEXT_KINDS:
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _criterion(record: Mapping[str, Any], item: Mapping[str, Any], kind: str) -> bool:
    value = record.get(item["property"])
    criteria = item["criteria"]
    wanted = item.get("value")
    if criteria == "IS_EMPTY":
        empty = value is None or value == ""
        return empty if wanted else not empty
    if value is None or wanted is None or not _same_kind(value, kind):
        return False
    if criteria == "EQUAL":
        return bool(value == wanted)
    if criteria == "NOT_EQUAL":
        return bool(value != wanted)
    if criteria == "GREATER_THAN":
        return bool(value > wanted)
    if criteria == "GREATER_THAN_OR_EQUAL":
        return bool(value >= wanted)
    if criteria == "LESS_THAN":
        return bool(value < wanted)
    if criteria == "LESS_THAN_OR_EQUAL":
        return bool(value <= wanted)
    if criteria == "CONTAINS":
        return bool(wanted in value)
    if criteria == "STARTS_WITH":
        return bool(value.startswith(wanted))
    if criteria == "ENDS_WITH":
        return bool(value.endswith(wanted))
    raise ValueError(f"unknown criteriaType {criteria!r}")


def matches(record: Mapping[str, Any], where: Mapping[str, Any] | None, dtype: DataType) -> bool:
    """Whether one record passes a (normalised) where group."""
    if not where:
        return True
    results = (
        *(
            _criterion(record, item, dtype.columns.get(item["property"], "string"))
            for item in where.get("criteria") or ()
        ),
        *(matches(record, group, dtype) for group in where.get("groups") or ()),
    )
    if not results:
        return True
    return any(results) if where.get("op") == "OR" else all(results)


def searched(record: Mapping[str, Any], search: str | None, dtype: DataType) -> bool:
    if not search:
        return True
    needle = ascii_lower(search)
    for name, kind in dtype.columns.items():
        value = record.get(name)
        if kind == "string" and isinstance(value, str) and needle in ascii_lower(value):
            return True
    return False


def _sort_key(name: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    def key(record: Mapping[str, Any]) -> tuple[Any, ...]:
        value = record.get(name)
        if value is None:
            return (0,)
        if isinstance(value, bool | int | float):
            return (1, 0, value)
        if isinstance(value, str):
            return (1, 1, value)
        return (1, 2, str(value))

    return key


def ordering(list_filter: Mapping[str, Any], dtype: DataType) -> list[tuple[str, bool]]:
    """(property, descending) pairs, ending with the id property as a tie-breaker."""
    order = [
        (item["property"], str(item.get("direction", "ASC")).upper() == "DESC")
        for item in list_filter.get("orderBy") or ()
    ]
    if dtype.id and all(name != dtype.id for name, _ in order):
        order.append((dtype.id, False))
    return order


def apply(records: Sequence[Any], list_filter: Mapping[str, Any], dtype: DataType) -> list[int]:
    """The indexes of the records the filter selects, in its order, one page (+1) long."""
    wanted_id = list_filter.get("id")
    where = list_filter.get("where")
    search = list_filter.get("search")
    kept: list[int] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            continue
        if wanted_id is not None:
            if str(record.get(dtype.id)) == str(wanted_id):
                kept.append(index)
            continue
        if matches(record, where, dtype) and searched(record, search, dtype):
            kept.append(index)
    for name, descending in reversed(ordering(list_filter, dtype)):
        key = _sort_key(name)
        kept.sort(key=lambda i: key(records[i]), reverse=descending)
    offset = int(list_filter.get("offset") or 0)
    limit = list_filter.get("limit")
    end = None if not limit else offset + int(limit) + 1
    return kept[offset:end]
