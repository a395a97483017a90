"""``db``: SQL on a real database through SQLAlchemy, bound parameters only.

Two forms::

    db: {url: '$config.databaseUrl', sql: 'SELECT * FROM t WHERE code = :code',
         params: {code: '.code'}}
    db: {url: '$config.databaseUrl', table: countries, action: load | save | delete}

``sql`` runs once per document with its ``params`` (jq, per document) bound; rows become
documents (keeping the input document's properties); a statement without rows passes the
document on with the property ``db_rowcount``. ``table`` works on the data action's type: ``load``
pushes the Flow list filter down into one SELECT of the profile's columns; ``save`` inserts each
document whose ``flow_operation`` property is ``create`` (else updates the row with its id) and
gives the saved row; ``delete`` deletes each document's row by id. One step invocation is one
transaction: when any statement fails, nothing it wrote stays. The blocking database calls run
in a worker thread, never on the event loop.

``url`` must be allowed by the runtime's policy (database_access.py): SQLite files inside the
runtime's files root (relative paths resolve there), or a URL the operator listed. Anything
else is refused (``database_not_allowed``) before any connection is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, text, update
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from .. import databases
from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..database_access import allowed_url
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram
from ..limits import limit_exceeded
from ..listfilter import DataType
from ..sqlfilter import select_page, table_of

ACTIONS = ("load", "save", "delete")


class Db:
    __slots__ = ("action", "params", "sql", "table", "url")

    def __init__(
        self,
        url: JqProgram,
        sql: str | None,
        params: list[tuple[str, JqProgram]],
        table: str | None,
        action: str,
    ):
        self.url = url
        self.sql = sql
        self.params = params
        self.table = table
        self.action = action

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        url = await self.url.first(documents[0], ctx)
        if not isinstance(url, str) or not url:
            raise StepError("url must give a database URL (a string)", code="db_url")
        engine = databases.engine(allowed_url(url, ctx.policy))
        most = ctx.policy.limits.documents_per_step  # rows become documents: counted as read
        work: Callable[[Connection], list[Document]]
        if self.sql is not None:
            statement = text(self.sql)
            bound = [
                {name: await program.first(document, ctx) for name, program in self.params}
                for document in documents
            ]

            def work(conn: Connection) -> list[Document]:
                return _run_sql(conn, statement, documents, bound, most)
        else:
            dtype = _data_type(ctx)
            table_name = self.table or dtype.name
            if self.action == "load":
                list_filter = ctx.data.filter if ctx.data else {}

                def work(conn: Connection) -> list[Document]:
                    return _load(conn, table_name, dtype, list_filter, documents[0], most)
            elif self.action == "save":

                def work(conn: Connection) -> list[Document]:
                    return _save(conn, table_name, dtype, documents)
            else:

                def work(conn: Connection) -> list[Document]:
                    return _delete(conn, table_name, dtype, documents)

        return await asyncio.to_thread(_transaction, engine, work)


def _transaction(engine: Any, work: Callable[[Connection], list[Document]]) -> list[Document]:
    try:
        with engine.begin() as conn:
            return work(conn)
    except StepError:
        raise
    except (SQLAlchemyError, ArgumentError) as error:
        cause = getattr(error, "orig", None) or error
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise StepError(f"database error: {message}", code="db_error") from None


def _data_type(ctx: RunContext) -> DataType:
    if ctx.data is None:
        raise StepError(
            "table mode needs a data action: run it from a data action's load, save or delete "
            "process (or use sql)",
            code="no_data_action",
        )
    return ctx.data.type


def _row_document(row: Any, properties: dict[str, str], dtype: DataType | None) -> Document:
    record = {str(k): databases.jsonable(v) for k, v in row._mapping.items()}
    if dtype is not None:
        for name, kind in dtype.columns.items():
            value = record.get(name)
            if kind == "boolean" and isinstance(value, int) and not isinstance(value, bool):
                record[name] = bool(value)
    return Document.from_value(record, dict(properties))


def _run_sql(
    conn: Connection,
    statement: Any,
    documents: list[Document],
    bound: list[dict[str, Any]],
    most: int,
) -> list[Document]:
    output: list[Document] = []
    for document, params in zip(documents, bound, strict=True):
        result = conn.execute(statement, params)
        if result.returns_rows:
            for row in result:
                if len(output) == most:
                    raise _too_many_rows(most)
                output.append(_row_document(row, document.properties, None))
        else:
            properties = dict(document.properties)
            properties["db_rowcount"] = str(result.rowcount)
            output.append(document.with_properties(properties))
    return output


def _load(
    conn: Connection,
    table_name: str,
    dtype: DataType,
    list_filter: dict[str, Any],
    document: Document,
    most: int,
) -> list[Document]:
    statement = select_page(table_name, dtype, list_filter, conn.dialect.name)
    output: list[Document] = []
    for row in conn.execute(statement):
        if len(output) == most:
            raise _too_many_rows(most)
        output.append(_row_document(row, document.properties, dtype))
    return output


def _too_many_rows(most: int) -> StepError:
    return limit_exceeded("documents_per_step", most, "the query gives more rows")


def _values(document: Document, dtype: DataType) -> dict[str, Any]:
    value = document.value
    if not isinstance(value, dict):
        raise StepError("save needs object documents", code="db_document")
    return {name: value[name] for name in dtype.columns if name in value}


def _id_of(document: Document, dtype: DataType) -> Any:
    value = document.value
    key = value.get(dtype.id) if isinstance(value, dict) else None
    if key is None or key == "":
        raise StepError(
            f"document has no '{dtype.id}', the id of type '{dtype.name}'", code="missing_id"
        )
    return key


def _save(
    conn: Connection, table_name: str, dtype: DataType, documents: list[Document]
) -> list[Document]:
    tbl = table_of(table_name, dtype)
    output = []
    for document in documents:
        values = _values(document, dtype)
        creating = document.properties.get("flow_operation") == "create"
        if creating:
            statement: Any = insert(tbl).values(values).returning(*tbl.c)
        else:
            key = _id_of(document, dtype)
            statement = update(tbl).where(tbl.c[dtype.id] == key).values(values).returning(*tbl.c)
        row = conn.execute(statement).first()
        if row is None:
            raise StepError(
                f"no row in {table_name} has {dtype.id} = {_id_of(document, dtype)!r}",
                code="not_found",
            )
        output.append(_row_document(row, document.properties, dtype))
    return output


def _delete(
    conn: Connection, table_name: str, dtype: DataType, documents: list[Document]
) -> list[Document]:
    tbl = table_of(table_name, dtype)
    for document in documents:
        conn.execute(delete(tbl).where(tbl.c[dtype.id] == _id_of(document, dtype)))
    return documents


def compile_db(config: Any, ctx: CompileContext) -> Db:
    options = ctx.options(config, required=("url",), optional=("sql", "params", "table", "action"))
    sql = options.get("sql")
    table_name = options.get("table")
    action = options.get("action", "load")
    if ("sql" in options) == ("table" in options or "action" in options):
        ctx.issue("give either sql (with params) or table mode (table and/or action)")
    if sql is not None and not isinstance(sql, str):
        ctx.issue("expected the SQL text", "sql")
        sql = None
    if table_name is not None and not isinstance(table_name, str):
        ctx.issue("expected a table name", "table")
        table_name = None
    if "sql" not in options and "action" not in options:
        ctx.issue("table mode needs action: load, save or delete")
    if action not in ACTIONS:
        ctx.issue(f"expected one of {', '.join(ACTIONS)}, got {action!r}", "action")
        action = "load"
    raw_params = options.get("params")
    params: list[tuple[str, JqProgram]] = []
    if raw_params is not None:
        if not isinstance(raw_params, dict):
            ctx.issue("expected a mapping of parameter names to jq programs", "params")
        else:
            params = [(str(n), ctx.jq(p, f"params.{n}")) for n, p in raw_params.items()]
    if sql is None and raw_params is not None:
        ctx.issue("params go with sql; table mode binds the list filter itself", "params")
    return Db(ctx.jq(options.get("url", "."), "url"), sql, params, table_name, action)


step_type = StepTypeDef("db", compile_db)
