"""Which databases a runtime's `db` steps may open: the operator's list, and SQLite in the root.

Checked before any connection is made, so a refused URL tells nothing about the network (open
and closed ports get the same answer). A URL is allowed when it is

- SQLite on a file inside the runtime's files root (a relative path resolves there, so
  ``sqlite:///countries.db`` is ``<root>/countries.db``), or in memory (``sqlite://``); or
- matched by an entry of the policy's ``database_urls``: same backend, host and port, and the
  same database, user and query options where the entry names them (an entry without a database
  allows every database on that server). Query options the entry does not name are refused:
  libpq's ``?host=`` / ``?port=`` would otherwise point the connection somewhere else.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import StepError
from .files_root import resolve
from .policy import RuntimePolicy

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


def allowed_url(url: str, policy: RuntimePolicy) -> str:
    """The URL to open (SQLite paths made absolute in the root), or raise StepError."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StepError("database url is not a SQLAlchemy URL", code="db_url") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(parsed, policy)
    for entry in policy.database_urls:
        try:
            if _matches(parsed, make_url(entry)):
                return url
        except ArgumentError:
            continue
    raise StepError(
        f"database {parsed.get_backend_name()}://{parsed.host or ''}"
        f"{f':{parsed.port}' if parsed.port else ''} is not allowed by the runtime's policy "
        "(database_urls); nothing was connected",
        code="database_not_allowed",
    )


def _sqlite(parsed: URL, policy: RuntimePolicy) -> str:
    database = parsed.database or ""
    if parsed.query:
        raise StepError(
            "SQLite URLs may not carry options (?...) under the runtime's policy",
            code="database_not_allowed",
        )
    if database in ("", ":memory:"):
        return parsed.render_as_string(hide_password=False)
    if database.startswith("file:"):
        raise StepError(
            "SQLite URI filenames (file:...) are not allowed; give a path relative to the "
            "runtime's files root",
            code="database_not_allowed",
        )
    path = resolve(policy.files_root, database, "SQLite database", absolute=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def _matches(url: URL, entry: URL) -> bool:
    backend = entry.get_backend_name()
    if url.get_backend_name() != backend:
        return False
    if entry.drivername != backend and url.drivername != entry.drivername:
        return False  # the entry names a driver: only that one
    if (url.host or "").lower() != (entry.host or "").lower():
        return False
    default = _DEFAULT_PORTS.get(backend)
    if (url.port or default) != (entry.port or default):
        return False
    if entry.database and url.database != entry.database:
        return False
    if entry.username and url.username != entry.username:
        return False
    return all(entry.query.get(key) == value for key, value in url.query.items())
