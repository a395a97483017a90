"""Flow's ``listFilter`` normalised for a process: checked against the type's profile, typed.

Flow sends list filters in several spellings (flow-protocol.md §4.4): ``where`` plus
``comparisonType`` and nested ``listFilters``, ordering as ``orderBy[]`` or the older
``orderByPropertyDeveloperName`` / ``orderByDirectionType``, values in ``contentValue`` or
``value``. A process gets one shape (docs/packages.md, "The list filter")::

    {"id": null, "where": {"op": "AND", "criteria": [...], "groups": [...]}, "search": null,
     "orderBy": [{"property": "name", "direction": "ASC"}], "limit": 20, "offset": 0}

Every property named must be a scalar property of the profile and every value must read as its
type (the rules of message-action inputs, docs/flow-types.md), else `FilterError` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.flow.scalars import INT_MAX, MISSING, NUMBER_MAX_CHARS, READERS, Invalid, shown

CRITERIA: Final = (
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
TEXT_CRITERIA: Final = ("CONTAINS", "STARTS_WITH", "ENDS_WITH")
TEXT_KINDS: Final = ("string", "datetime")
MAX_DEPTH: Final = 16  # nested listFilters; deeper is not a filter a person wrote


class FilterError(ValueError):
    """A list filter that does not fit the type; the message names the part."""


def normalise(
    raw: Any, type_name: str, columns: Mapping[str, str], id_property: str
) -> dict[str, Any]:
    """The normalised filter; `columns` maps the profile's scalar properties to their kinds."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise FilterError("listFilter must be an object")
    normalised: dict[str, Any] = {
        "id": None,
        "where": None,
        "search": None,
        "orderBy": [],
        "limit": _count(raw.get("limit"), "limit"),
        "offset": _count(raw.get("offset"), "offset") or 0,
    }
    wanted_id = raw.get("id")
    if wanted_id is not None and wanted_id != "":
        kind = columns.get(id_property, "string")
        normalised["id"] = _value(str(wanted_id), kind, f"listFilter.id for '{id_property}'")
        return normalised
    checker = _Checker(type_name, columns)
    where = checker.group(raw, "listFilter", 0)
    normalised["where"] = where if where["criteria"] or where["groups"] else None
    search = raw.get("search")
    if search is not None and not isinstance(search, str):
        raise FilterError("listFilter.search must be text")
    normalised["search"] = search or None
    normalised["orderBy"] = checker.order(raw)
    return normalised


def _count(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FilterError(f"listFilter.{name} must be a whole number")
    if isinstance(value, str) and len(value) > NUMBER_MAX_CHARS:
        raise FilterError(f"listFilter.{name} must be a whole number, got {shown(value)}")
    try:
        number = int(value)
    except ValueError:
        raise FilterError(f"listFilter.{name} must be a whole number, got {shown(value)}") from None
    if number < 0:
        raise FilterError(f"listFilter.{name} must not be negative")
    if number > INT_MAX:
        raise FilterError(f"listFilter.{name} must be at most {INT_MAX}, got {shown(value)}")
    return number or None


def _value(text: str, kind: str, where: str) -> Any:
    try:
        value = READERS[kind]({"contentValue": text})
    except Invalid as invalid:  # numbers past 64 bits included (gateway.flow.scalars)
        raise FilterError(f"{where}: {invalid.reason}") from None
    return None if value is MISSING else value


class _Checker:
    def __init__(self, type_name: str, columns: Mapping[str, str]) -> None:
        self.type_name = type_name
        self.columns = columns

    def column(self, name: Any, where: str) -> tuple[str, str]:
        if not isinstance(name, str) or name not in self.columns:
            known = ", ".join(sorted(self.columns)) or "none"
            raise FilterError(
                f"{where} names {shown(name)}, which is not a property of type '{self.type_name}' "
                f"(properties: {known})"
            )
        return name, self.columns[name]

    def group(self, raw: Mapping[str, Any], where: str, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise FilterError(f"{where}: list filters nest deeper than {MAX_DEPTH}")
        op = str(raw.get("comparisonType") or "AND").upper()
        if op not in ("AND", "OR"):
            raise FilterError(f"{where}.comparisonType must be AND or OR, got {shown(op)}")
        criteria = [
            self.criterion(item, f"{where}.where[{i}]")
            for i, item in enumerate(_list(raw.get("where"), f"{where}.where"))
        ]
        groups = []
        for i, item in enumerate(_list(raw.get("listFilters"), f"{where}.listFilters")):
            here = f"{where}.listFilters[{i}]"
            if not isinstance(item, Mapping):
                raise FilterError(f"{here} must be an object")
            group = self.group(item, here, depth + 1)
            if group["criteria"] or group["groups"]:
                groups.append(group)
        return {"op": op, "criteria": criteria, "groups": groups}

    def criterion(self, raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise FilterError(f"{where} must be an object")
        name, kind = self.column(raw.get("columnName"), where)
        criteria = str(raw.get("criteriaType") or "").upper()
        if criteria not in CRITERIA:
            raise FilterError(
                f"{where}.criteriaType must be one of {', '.join(CRITERIA)}, got {shown(criteria)}"
            )
        text = raw.get("contentValue")
        if text is None:
            text = raw.get("value")
        if criteria == "IS_EMPTY":
            flag = _value("true" if text is None else str(text), "boolean", f"{where} IS_EMPTY")
            return {"property": name, "criteria": criteria, "value": flag is not False}
        if criteria in TEXT_CRITERIA and kind not in TEXT_KINDS:
            raise FilterError(f"{where}: {criteria} needs a text property; '{name}' is {kind}")
        value = None if text is None else _value(str(text), kind, f"{where} on '{name}'")
        return {"property": name, "criteria": criteria, "value": value}

    def order(self, raw: Mapping[str, Any]) -> list[dict[str, str]]:
        order = []
        for i, item in enumerate(_list(raw.get("orderBy"), "listFilter.orderBy")):
            if not isinstance(item, Mapping):
                raise FilterError(f"listFilter.orderBy[{i}] must be an object")
            name, _ = self.column(item.get("columnName"), f"listFilter.orderBy[{i}]")
            order.append({"property": name, "direction": _direction(item.get("direction"))})
        single = raw.get("orderByPropertyDeveloperName")
        if not order and single:
            name, _ = self.column(single, "listFilter.orderByPropertyDeveloperName")
            order.append(
                {"property": name, "direction": _direction(raw.get("orderByDirectionType"))}
            )
        return order


def _direction(value: Any) -> str:
    direction = str(value or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise FilterError(f"an order direction must be ASC or DESC, got {shown(value)}")
    return direction


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FilterError(f"{where} must be a list")
    return value
