"""Flow's list filter pushed down into SQL: WHERE, ORDER BY, LIMIT and OFFSET for one table.

Statements are SQLAlchemy Core built from the type's profile: the only identifiers are the
table name (from the package) and the profile's property names; every value Flow sent is a
bound parameter. A filter naming a property the profile does not have is refused before any SQL
exists. The semantics are those of `listfilter.apply` (its docstring lists them); both are
held together by a property test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.sql.expression import ColumnClause

from .errors import StepError
from .listfilter import TEXT_CRITERIA, TEXT_KINDS, DataType, ascii_lower, ordering

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def table_of(name: str, dtype: DataType) -> Table:
    """The table as SQLAlchemy sees it: the profile's scalar properties are its columns."""
    return table(name, *(column(c) for c in dtype.columns))  # type: ignore[return-value]


def _column(tbl: Table, dtype: DataType, name: Any) -> ColumnClause[Any]:
    if not isinstance(name, str) or name not in dtype.columns:
        raise StepError(
            f"the list filter names {name!r}, which is not a property of type '{dtype.name}'",
            code="invalid_filter",
        )
    return tbl.c[name]  # type: ignore[no-any-return]


def _ordered_text(col: ColumnElement[Any], kind: str, dialect: str) -> ColumnElement[Any]:
    # PostgreSQL compares text by its locale; code-point order is what SQLite and Python use.
    if kind in TEXT_KINDS and dialect == "postgresql":
        return col.collate("C")
    return col


def _criterion(tbl: Table, dtype: DataType, item: Mapping[str, Any], dialect: str) -> Any:
    col = _column(tbl, dtype, item.get("property"))
    kind = dtype.columns[col.name]
    criteria = item.get("criteria")
    value = item.get("value")
    if criteria == "IS_EMPTY":
        empty = or_(col.is_(None), col == "") if kind in TEXT_KINDS else col.is_(None)
        return empty if value else not_(empty)
    if value is None:
        return false()
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not _INT64_MIN <= value <= _INT64_MAX
    ):
        raise StepError(
            f"the list filter compares '{col.name}' with {value}, outside the 64-bit integer "
            "range databases compare",
            code="invalid_filter",
        )
    ordered = _ordered_text(col, kind, dialect)
    value = literal(value)  # always a bound parameter (never inlined, booleans included)
    if criteria == "EQUAL":
        return col == value
    if criteria == "NOT_EQUAL":
        return col != value
    if criteria == "GREATER_THAN":
        return ordered > value
    if criteria == "GREATER_THAN_OR_EQUAL":
        return ordered >= value
    if criteria == "LESS_THAN":
        return ordered < value
    if criteria == "LESS_THAN_OR_EQUAL":
        return ordered <= value
    if criteria in TEXT_CRITERIA:
        if kind not in TEXT_KINDS or not isinstance(item.get("value"), str):
            return false()
        value = item["value"]
        if criteria == "CONTAINS":
            return col.contains(value, autoescape=True)
        if criteria == "STARTS_WITH":
            return col.startswith(value, autoescape=True)
        return col.endswith(value, autoescape=True)
    raise StepError(f"unknown criteriaType {criteria!r}", code="invalid_filter")


def where_clause(
    tbl: Table, dtype: DataType, where: Mapping[str, Any] | None, dialect: str
) -> ColumnElement[bool]:
    if not where:
        return true()
    parts = [_criterion(tbl, dtype, item, dialect) for item in where.get("criteria") or ()]
    parts += [where_clause(tbl, dtype, group, dialect) for group in where.get("groups") or ()]
    if not parts:
        return true()
    return or_(*parts) if where.get("op") == "OR" else and_(*parts)


def _search(tbl: Table, dtype: DataType, search: str) -> ColumnElement[bool]:
    needle = ascii_lower(search)
    parts = [
        func.lower(tbl.c[name]).contains(needle, autoescape=True)
        for name, kind in dtype.columns.items()
        if kind == "string"
    ]
    return or_(*parts) if parts else false()


def select_page(
    table_name: str, dtype: DataType, list_filter: Mapping[str, Any], dialect: str
) -> Select[Any]:
    """SELECT the profile's columns of the rows the filter selects: one page, plus one row."""
    tbl = table_of(table_name, dtype)
    statement = select(*tbl.c)
    wanted_id = list_filter.get("id")
    if wanted_id is not None:
        return statement.where(_column(tbl, dtype, dtype.id) == wanted_id)
    statement = statement.where(where_clause(tbl, dtype, list_filter.get("where"), dialect))
    search = list_filter.get("search")
    if search:
        statement = statement.where(_search(tbl, dtype, str(search)))
    for name, descending in ordering(list_filter, dtype):
        col = _column(tbl, dtype, name)
        expr = _ordered_text(col, dtype.columns[name], dialect)
        statement = statement.order_by(
            expr.desc().nulls_last() if descending else expr.asc().nulls_first()
        )
    offset = int(list_filter.get("offset") or 0)
    limit = list_filter.get("limit")
    if limit:
        statement = statement.limit(int(limit) + 1)
    if offset:
        statement = statement.offset(offset)
    return statement
