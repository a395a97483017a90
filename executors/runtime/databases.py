"""SQLAlchemy engines for the ``db`` step: one per database URL per executor, made on first use.

Engines hold connection pools, so they are shared by every execution of every package on this
executor. SQLite connections are made case-sensitive for ``LIKE`` (as PostgreSQL is), so the
Flow list filter means the same on both.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import StepError

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine(url: str) -> Engine:
    """The shared engine for ``url`` (raises StepError for a URL SQLAlchemy cannot use)."""
    found = _engines.get(url)
    if found is not None:
        return found
    with _lock:
        found = _engines.get(url)
        if found is None:
            found = _engines[url] = _create(url)
    return found


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StepError("database url is not a SQLAlchemy URL", code="db_url") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            # A SQLite file's folder is made on first use, as the gateway's store does: the
            # examples default to a file under the data folder, wherever that is.
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            created = create_engine(
                parsed, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(created, "connect", _sqlite_connect)
            return created
        return create_engine(parsed, pool_pre_ping=True)
    except Exception as error:  # unknown dialect, missing driver
        raise StepError(
            f"cannot use database {parsed.render_as_string(hide_password=True)}: {error}",
            code="db_url",
        ) from None


def _sqlite_connect(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA case_sensitive_like = ON")
    cursor.close()


def dispose_all() -> None:
    """Close every pool (executor shutdown, tests)."""
    with _lock:
        for created in _engines.values():
            created.dispose()
        _engines.clear()


def jsonable(value: Any) -> Any:
    """A database value as JSON: decimals as numbers, times as ISO-8601 text, bytes as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)
