"""The gateway's desired state: runtimes, runtime users, package versions and what is active.

SQLAlchemy Core on SQLite by default, or PostgreSQL when several gateways share state. Every
method is synchronous and short; the gateway calls them from management endpoints or through
`asyncio.to_thread`, never on the Flow request path (auth works from an in-memory copy of
`credentials()`, refreshed when `generation()` moves).

Writes are serialised: each write transaction first locks the single `meta` row, so two gateways
on one PostgreSQL database (or two processes on one SQLite file) cannot interleave a check and
the write that depends on it, such as the service path check on activation. The same row holds
the generation counter, bumped by every write that changes something.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.types import TypeDecorator

from gateway.spec import ServiceSpec
from gateway.tokens import hash_token

__all__ = [
    "ActiveDeployment",
    "Credential",
    "InvalidName",
    "NothingToRollBack",
    "PathConflict",
    "Store",
    "StoreError",
    "UnknownPackage",
    "UnknownUser",
    "UnknownVersion",
    "UserExists",
    "UserRecord",
    "VersionConflict",
    "VersionRecord",
]


# --- errors -------------------------------------------------------------------------------------


class StoreError(Exception):
    """Root of every error the store raises.

    `code` is stable and machine-readable; `details` names what the error is about (runtime,
    user, name, version, path) so an API can answer with it.
    """

    code = "store_error"

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidName(StoreError):
    code = "invalid_name"


class UserExists(StoreError):
    code = "user_exists"


class UnknownUser(StoreError):
    code = "unknown_user"


class VersionConflict(StoreError):
    code = "version_conflict"


class UnknownVersion(StoreError):
    code = "unknown_version"


class UnknownPackage(StoreError):
    code = "unknown_package"


class NothingToRollBack(StoreError):
    code = "nothing_to_roll_back"


class PathConflict(StoreError):
    code = "path_conflict"


# --- records ------------------------------------------------------------------------------------
# Timestamps are timezone-aware UTC datetimes everywhere.


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    runtime: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credential:
    """What the authenticator caches: never the token itself, only its hash."""

    name: str
    runtime: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class VersionRecord:
    name: str
    version: str
    digest: str
    created_at: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class ActiveDeployment:
    runtime: str
    spec: ServiceSpec
    source: str


# --- schema -------------------------------------------------------------------------------------


class _UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NAME = 200  # generous bound for runtime, user, package and version names

metadata = MetaData()

_meta = Table(
    "flowhost_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

_runtimes = Table(
    "flowhost_runtimes",
    metadata,
    Column("name", String(_NAME), primary_key=True),
    Column("created_at", _UTCDateTime, nullable=False),
)

_users = Table(
    "flowhost_users",
    metadata,
    # Unique across the gateway: the credentials alone select the runtime.
    Column("name", String(_NAME), primary_key=True),
    Column("runtime", String(_NAME), ForeignKey(_runtimes.c.name), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", _UTCDateTime, nullable=False),
    Column("rotated_at", _UTCDateTime, nullable=False),
)

_versions = Table(
    "flowhost_versions",
    metadata,
    Column("runtime", String(_NAME), ForeignKey(_runtimes.c.name), primary_key=True),
    Column("name", String(_NAME), primary_key=True),
    Column("version", String(_NAME), primary_key=True),
    Column("service_path", String(1000), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("source", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", _UTCDateTime, nullable=False),
)

# One row per package ever activated in a runtime; `version` is NULL once undeployed, and
# `previous_version` is what a rollback without an explicit version goes back to.
_deployments = Table(
    "flowhost_deployments",
    metadata,
    Column("runtime", String(_NAME), primary_key=True),
    Column("name", String(_NAME), primary_key=True),
    Column("version", String(_NAME), nullable=True),
    Column("previous_version", String(_NAME), nullable=True),
    Column("updated_at", _UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["runtime", "name", "version"],
        [_versions.c.runtime, _versions.c.name, _versions.c.version],
    ),
    ForeignKeyConstraint(
        ["runtime", "name", "previous_version"],
        [_versions.c.runtime, _versions.c.name, _versions.c.version],
    ),
)

# Any constant shared by every flowhost gateway: serialises concurrent first start-ups on one
# PostgreSQL database, where simultaneous CREATE TABLEs would otherwise collide.
_SCHEMA_LOCK_KEY = 0x666C6F77


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _normal_path(path: str) -> str:
    return path.strip("/")


# Runtime and user names travel in URLs, CLI arguments and basic auth (where a colon would end
# the user name), so they are kept plain.
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")


def _check_name(kind: str, name: str) -> None:
    if len(name) > _NAME or not _VALID_NAME.fullmatch(name):
        raise InvalidName(
            f"invalid {kind} name {name!r}: use letters, digits and . _ @ - "
            f"(starting with a letter or digit, at most {_NAME} characters)",
            **{kind: name},
        )


# --- the store ----------------------------------------------------------------------------------


class Store:
    """The gateway's desired state in one SQL database."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        self._postgres = parsed.get_backend_name() == "postgresql"
        if self._sqlite:
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(url, pool_pre_ping=True)
        if self._sqlite:
            event.listen(self._engine, "connect", _sqlite_on_connect)
        self._create_schema()

    def _create_schema(self) -> None:
        with self._engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            metadata.create_all(conn)
            if conn.execute(select(_meta.c.id).where(_meta.c.id == 1)).first() is None:
                conn.execute(insert(_meta).values(id=1, generation=0))

    @property
    def engine(self) -> Engine:
        """The database engine, shared by the outbox and the execution history."""
        return self._engine

    @property
    def postgres(self) -> bool:
        return self._postgres

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction that holds the store-wide write lock from its first statement.

        The no-op UPDATE takes the `meta` row lock on PostgreSQL and the database write lock on
        SQLite before anything is read, so checks made inside see the latest committed state
        and stay true until commit.
        """
        with self._engine.begin() as conn:
            conn.execute(update(_meta).where(_meta.c.id == 1).values(generation=_meta.c.generation))
            yield conn

    @staticmethod
    def _bump(conn: Connection) -> None:
        conn.execute(update(_meta).where(_meta.c.id == 1).values(generation=_meta.c.generation + 1))

    # -- runtimes --

    def ensure_runtime(self, name: str) -> None:
        """Create the runtime unless it exists already."""
        if name in self.runtimes():
            return
        _check_name("runtime", name)
        with self._write() as conn:
            self._ensure_runtime(conn, name)

    def _ensure_runtime(self, conn: Connection, name: str) -> None:
        found = conn.execute(select(_runtimes.c.name).where(_runtimes.c.name == name)).first()
        if found is None:
            conn.execute(insert(_runtimes).values(name=name, created_at=_now()))
            self._bump(conn)

    def runtimes(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.scalars(select(_runtimes.c.name).order_by(_runtimes.c.name)))

    # -- runtime users --

    def add_user(self, runtime: str, name: str) -> str:
        """Create a user of `runtime` (created if needed) and return its token.

        The token is returned this once; only its hash is stored.
        """
        _check_name("runtime", runtime)
        _check_name("user", name)
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            existing = conn.execute(
                select(_users.c.runtime).where(_users.c.name == name)
            ).scalar_one_or_none()
            if existing is not None:
                raise UserExists(
                    f"user {name!r} already exists (in runtime {existing!r})",
                    user=name,
                    runtime=existing,
                )
            self._ensure_runtime(conn, runtime)
            now = _now()
            conn.execute(
                insert(_users).values(
                    name=name,
                    runtime=runtime,
                    token_hash=hash_token(token),
                    created_at=now,
                    rotated_at=now,
                )
            )
            self._bump(conn)
        return token

    def rotate_token(self, name: str) -> str:
        """Give the user a new token; the old one stops working at the next `credentials()`."""
        token = secrets.token_urlsafe(32)
        with self._write() as conn:
            changed = conn.execute(
                update(_users)
                .where(_users.c.name == name)
                .values(token_hash=hash_token(token), rotated_at=_now())
            ).rowcount
            if not changed:
                raise UnknownUser(f"no user {name!r}", user=name)
            self._bump(conn)
        return token

    def remove_user(self, name: str) -> None:
        with self._write() as conn:
            if not conn.execute(_users.delete().where(_users.c.name == name)).rowcount:
                raise UnknownUser(f"no user {name!r}", user=name)
            self._bump(conn)

    def users(self, runtime: str | None = None) -> list[UserRecord]:
        query = select(_users.c.name, _users.c.runtime, _users.c.created_at).order_by(
            _users.c.runtime, _users.c.name
        )
        if runtime is not None:
            query = query.where(_users.c.runtime == runtime)
        with self._engine.connect() as conn:
            return [UserRecord(r.name, r.runtime, r.created_at) for r in conn.execute(query)]

    def credentials(self) -> list[Credential]:
        query = select(_users.c.name, _users.c.runtime, _users.c.token_hash)
        with self._engine.connect() as conn:
            return [Credential(r.name, r.runtime, r.token_hash) for r in conn.execute(query)]

    # -- package versions and activation --

    def add_version(self, runtime: str, spec: ServiceSpec, source: str) -> bool:
        """Store a package version in `runtime` (created if needed).

        Versions are immutable: storing the same content again returns False; different content
        under an existing name and version raises `VersionConflict`.
        """
        _check_name("runtime", runtime)
        digest = _digest(source)
        with self._write() as conn:
            existing = conn.execute(
                select(_versions.c.digest).where(
                    _versions.c.runtime == runtime,
                    _versions.c.name == spec.name,
                    _versions.c.version == spec.version,
                )
            ).scalar_one_or_none()
            if existing == digest:
                return False
            if existing is not None:
                raise VersionConflict(
                    f"{spec.name} {spec.version} is already deployed with different content; "
                    "versions are immutable, bump the version",
                    runtime=runtime,
                    name=spec.name,
                    version=spec.version,
                )
            self._ensure_runtime(conn, runtime)
            conn.execute(
                insert(_versions).values(
                    runtime=runtime,
                    name=spec.name,
                    version=spec.version,
                    service_path=_normal_path(spec.service_path),
                    spec=spec.to_json(),
                    source=source,
                    digest=digest,
                    created_at=_now(),
                )
            )
            self._bump(conn)
        return True

    def activate(self, runtime: str, name: str, version: str) -> None:
        """Make `version` the one active version of package `name` in `runtime`."""
        with self._write() as conn:
            self._activate(conn, runtime, name, version)

    def deactivate(self, runtime: str, name: str) -> None:
        """Undeploy: no version of `name` stays active in `runtime` (its versions are kept)."""
        with self._write() as conn:
            current = self._deployment(conn, runtime, name)
            if current is None or current.version is None:
                raise UnknownPackage(
                    f"{name} is not deployed in runtime {runtime!r}", runtime=runtime, name=name
                )
            conn.execute(
                update(_deployments)
                .where(_deployments.c.runtime == runtime, _deployments.c.name == name)
                .values(version=None, previous_version=current.version, updated_at=_now())
            )
            self._bump(conn)

    def rollback(self, runtime: str, name: str, version: str | None = None) -> str:
        """Activate `version`, or else the version active before the current one.

        Rolling back twice returns to where it started. After `deactivate`, a rollback without
        a version brings back the version that was undeployed. Returns the version now active.
        """
        with self._write() as conn:
            if version is None:
                current = self._deployment(conn, runtime, name)
                version = current.previous_version if current is not None else None
                if version is None:
                    raise NothingToRollBack(
                        f"{name} in runtime {runtime!r} has no earlier version to roll back to",
                        runtime=runtime,
                        name=name,
                    )
            self._activate(conn, runtime, name, version)
        return version

    def _deployment(self, conn: Connection, runtime: str, name: str) -> Row[Any, Any] | None:
        return conn.execute(
            select(_deployments.c.version, _deployments.c.previous_version).where(
                _deployments.c.runtime == runtime, _deployments.c.name == name
            )
        ).first()

    def _activate(self, conn: Connection, runtime: str, name: str, version: str) -> None:
        path = conn.execute(
            select(_versions.c.service_path).where(
                _versions.c.runtime == runtime,
                _versions.c.name == name,
                _versions.c.version == version,
            )
        ).scalar_one_or_none()
        if path is None:
            raise UnknownVersion(
                f"runtime {runtime!r} has no {name} {version}",
                runtime=runtime,
                name=name,
                version=version,
            )
        current = self._deployment(conn, runtime, name)
        if current is not None and current.version == version:
            return  # already active: nothing changes, so no generation bump

        clash = conn.execute(
            select(_deployments.c.name, _deployments.c.version)
            .join(
                _versions,
                (_versions.c.runtime == _deployments.c.runtime)
                & (_versions.c.name == _deployments.c.name)
                & (_versions.c.version == _deployments.c.version),
            )
            .where(
                _deployments.c.runtime == runtime,
                _deployments.c.name != name,
                _versions.c.service_path == path,
            )
        ).first()
        if clash is not None:
            raise PathConflict(
                f"service path /fs/{path} in runtime {runtime!r} is already served by "
                f"{clash.name} {clash.version}; undeploy it or change the path",
                runtime=runtime,
                path=path,
                name=clash.name,
                version=clash.version,
            )

        now = _now()
        if current is None:
            conn.execute(
                insert(_deployments).values(
                    runtime=runtime, name=name, version=version, updated_at=now
                )
            )
        else:
            # After an undeploy there is no current version: keep what was active before it.
            previous = current.version if current.version is not None else current.previous_version
            conn.execute(
                update(_deployments)
                .where(_deployments.c.runtime == runtime, _deployments.c.name == name)
                .values(
                    version=version,
                    previous_version=None if previous == version else previous,
                    updated_at=now,
                )
            )
        self._bump(conn)

    def versions(self, runtime: str, name: str | None = None) -> list[VersionRecord]:
        active = (
            (_deployments.c.runtime == _versions.c.runtime)
            & (_deployments.c.name == _versions.c.name)
            & (_deployments.c.version == _versions.c.version)
        )
        query = (
            select(
                _versions.c.name,
                _versions.c.version,
                _versions.c.digest,
                _versions.c.created_at,
                _deployments.c.version.is_not(None).label("active"),
            )
            .outerjoin(_deployments, active)
            .where(_versions.c.runtime == runtime)
            .order_by(_versions.c.name, _versions.c.created_at, _versions.c.version)
        )
        if name is not None:
            query = query.where(_versions.c.name == name)
        with self._engine.connect() as conn:
            return [
                VersionRecord(r.name, r.version, r.digest, r.created_at, bool(r.active))
                for r in conn.execute(query)
            ]

    def active(self, runtime: str | None = None) -> list[ActiveDeployment]:
        """The active package versions, of one runtime or of all."""
        query = (
            select(_versions.c.runtime, _versions.c.spec, _versions.c.source)
            .join(
                _deployments,
                (_deployments.c.runtime == _versions.c.runtime)
                & (_deployments.c.name == _versions.c.name)
                & (_deployments.c.version == _versions.c.version),
            )
            .order_by(_versions.c.runtime, _versions.c.name)
        )
        if runtime is not None:
            query = query.where(_versions.c.runtime == runtime)
        with self._engine.connect() as conn:
            return [
                ActiveDeployment(r.runtime, ServiceSpec.from_json(r.spec), r.source)
                for r in conn.execute(query)
            ]

    def generation(self) -> int:
        """A counter bumped by every write; poll it to notice changes made by other gateways."""
        with self._engine.connect() as conn:
            return int(conn.scalar(select(_meta.c.generation).where(_meta.c.id == 1)) or 0)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers never block the writer; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")  # wait up to 30 s for another writer
        # In WAL mode NORMAL still survives a killed process (what restarts are); only an OS
        # crash or power cut can lose the last commits. FULL fsyncs every commit: the history
        # writer commits twice a second and the outbox on every WAIT.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
