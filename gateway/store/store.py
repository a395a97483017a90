"""The gateway's desired state: runtimes, runtime users, package versions and what is active.

SQLAlchemy Core on SQLite by default, or PostgreSQL when several gateways share state. Every
method is synchronous and short; the gateway calls them from management endpoints or through
`asyncio.to_thread`, never on the Flow request path (auth works from an in-memory copy of
`credentials()`, refreshed when `generation()` moves).

Writes are serialised: each write transaction first locks the single `meta` row, so two gateways
on one PostgreSQL database (or two processes on one SQLite file) cannot interleave a check and
the write that depends on it, such as the service path check on activation. The same row holds
the generation counter, bumped by every write that changes something. The other modules keeping
state in this database (user access, runtime policies, operator configuration) write through the
same transaction, `Store.write()`, rather than into the store's insides.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select, text, update
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from gateway.lifecycle import Lifecycle
from gateway.spec import ServiceSpec
from gateway.store import canaries as canary_rules
from gateway.store.errors import (
    CanaryExists,
    NoCanary,
    NothingToRollBack,
    PathConflict,
    RuntimeInUse,
    UnknownPackage,
    UnknownRuntime,
    UnknownUser,
    UnknownVersion,
    UserExists,
    VersionConflict,
)
from gateway.store.records import (
    ActiveDeployment,
    CanaryDeployment,
    Credential,
    RuntimeRecord,
    UserRecord,
    VersionRecord,
)
from gateway.store.schema import SCHEMA_LOCK_KEY, check_name, metadata
from gateway.store.schema import canaries as _canaries
from gateway.store.schema import deployments as _deployments
from gateway.store.schema import meta as _meta
from gateway.store.schema import runtimes as _runtimes
from gateway.store.schema import users as _users
from gateway.store.schema import versions as _versions
from gateway.tokens import hash_token

__all__ = ["Store", "Write"]


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _normal_path(path: str) -> str:
    return path.strip("/")


# --- the store ----------------------------------------------------------------------------------


class Store(Lifecycle):
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
        self._closed = False
        event.listen(self._engine, "checkin", self._close_late_return)
        if self._sqlite:
            event.listen(self._engine, "connect", _sqlite_on_connect)
        try:
            self._create_schema()
        except BaseException:
            self.close()  # a store that did not open leaves no pooled connection behind
            raise

    def _create_schema(self) -> None:
        with self._engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
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
        self._closed = True
        self._engine.dispose()

    def _close_late_return(self, _dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        """Close a connection handed back after `close()`.

        `dispose()` closes only the connections in the pool. A part that stops by cancelling
        its task leaves the thread it was awaiting (`asyncio.to_thread`) still using one; when
        that thread finishes, the connection goes back to a pool nobody holds, and would stay
        open until garbage collection.
        """
        if self._closed:
            entry.close()

    async def start(self) -> None:
        """Nothing more: constructing the store opened it and made its schema."""

    async def stop(self) -> None:
        self.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[Write]:
        """A write transaction that holds the store-wide write lock from its first statement.

        The no-op UPDATE takes the `meta` row lock on PostgreSQL and the database write lock on
        SQLite before anything is read, so checks made inside see the latest committed state
        and stay true until commit. Every module keeping state in this database writes through
        here (user access, runtime policies, operator configuration), so one lock orders them
        all and one generation counts their changes. Leaving by an exception rolls back.
        """
        with self._engine.begin() as conn:
            lock = _meta.update().where(_meta.c.id == 1)
            conn.execute(lock.values(generation=_meta.c.generation))
            write = Write(conn)
            yield write
            if write.changes:
                conn.execute(lock.values(generation=_meta.c.generation + 1))

    # -- runtimes --

    def ensure_runtime(self, name: str) -> None:
        """Create the runtime unless it exists already."""
        if name in self.runtimes():
            return
        with self.write() as write:
            write.ensure_runtime(name)

    def runtimes(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.scalars(select(_runtimes.c.name).order_by(_runtimes.c.name)))

    # -- runtime users --

    def add_user(self, runtime: str, name: str) -> str:
        """Create a user of `runtime` (created if needed) and return its token.

        The token is returned this once; only its hash is stored.
        """
        check_name("runtime", runtime)
        check_name("user", name)
        token = secrets.token_urlsafe(32)
        with self.write() as write:
            conn = write.connection
            existing = write.user_runtime(name)
            if existing is not None:
                raise UserExists(
                    f"user {name!r} already exists (in runtime {existing!r})",
                    user=name,
                    runtime=existing,
                )
            write.ensure_runtime(runtime)
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
            write.changed()
        return token

    def rotate_token(self, name: str) -> str:
        """Give the user a new token; the old one stops working at the next `credentials()`."""
        token = secrets.token_urlsafe(32)
        with self.write() as write:
            conn = write.connection
            changed = conn.execute(
                update(_users)
                .where(_users.c.name == name)
                .values(token_hash=hash_token(token), rotated_at=_now())
            ).rowcount
            if not changed:
                raise UnknownUser(f"no user {name!r}", user=name)
            write.changed()
        return token

    def remove_user(self, name: str) -> None:
        with self.write() as write:
            conn = write.connection
            if not conn.execute(_users.delete().where(_users.c.name == name)).rowcount:
                raise UnknownUser(f"no user {name!r}", user=name)
            write.changed()

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
        check_name("runtime", runtime)
        with self.write() as write:
            return self._add_version(write, runtime, spec, source)

    def deploy(
        self, runtime: str, spec: ServiceSpec, source: str, canary: int | None = None
    ) -> bool:
        """Store a version and make it active (or, with `canary`, the canary taking that percent
        of new executions) in one transaction: a runtime gets all of it or none. Returns
        whether the version was new."""
        check_name("runtime", runtime)
        with self.write() as write:
            created = self._add_version(write, runtime, spec, source)
            if canary is None:
                self._activate(write, runtime, spec.name, spec.version)
            else:
                current = self._deployment(write.connection, runtime, spec.name)
                active = current.version if current is not None else None
                if canary_rules.put(write.connection, runtime, spec, active, canary):
                    write.changed()
        return created

    def _add_version(self, write: Write, runtime: str, spec: ServiceSpec, source: str) -> bool:
        digest = _digest(source)
        conn = write.connection
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
        write.ensure_runtime(runtime)
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
        write.changed()
        return True

    def activate(self, runtime: str, name: str, version: str) -> None:
        """Make `version` the one active version of package `name` in `runtime`."""
        with self.write() as write:
            self._activate(write, runtime, name, version)

    def deactivate(self, runtime: str, name: str) -> None:
        """Undeploy: no version of `name` stays active in `runtime` (its versions are kept)."""
        with self.write() as write:
            conn = write.connection
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
            self._drop_canary(write, runtime, name)  # an undeployed service has no canary
            write.changed()

    def rollback(self, runtime: str, name: str, version: str | None = None) -> str:
        """Activate `version`, or else the version active before the current one.

        Rolling back twice returns to where it started. After `deactivate`, a rollback without
        a version brings back the version that was undeployed. Returns the version now active.
        """
        with self.write() as write:
            conn = write.connection
            if version is None:
                current = self._deployment(conn, runtime, name)
                version = current.previous_version if current is not None else None
                if version is None:
                    raise NothingToRollBack(
                        f"{name} in runtime {runtime!r} has no earlier version to roll back to",
                        runtime=runtime,
                        name=name,
                    )
            self._activate(write, runtime, name, version)
        return version

    def _deployment(self, conn: Connection, runtime: str, name: str) -> Row[Any, Any] | None:
        return conn.execute(
            select(_deployments.c.version, _deployments.c.previous_version).where(
                _deployments.c.runtime == runtime, _deployments.c.name == name
            )
        ).first()

    def _activate(self, write: Write, runtime: str, name: str, version: str) -> None:
        conn = write.connection
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
        canary = canary_rules.of(conn, runtime, name)
        if canary is not None:
            raise CanaryExists(
                f"{name} {canary.version} is the canary of {name} in runtime {runtime!r}; "
                f"promote it (flowhost promote {name} --runtime {runtime}) or abort it "
                f"(flowhost abort {name} --runtime {runtime}) first",
                runtime=runtime,
                name=name,
                version=canary.version,
            )

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
        write.changed()

    # -- canaries: a second version of a service beside the active one (rules: canaries.py) ---

    def _drop_canary(self, write: Write, runtime: str, name: str) -> str | None:
        version = canary_rules.drop(write.connection, runtime, name)
        if version is not None:
            write.changed()
        return version

    def promote(self, runtime: str, name: str) -> str:
        """Make the canary the active version (the active one becomes the rollback target)."""
        with self.write() as write:
            version = self._drop_canary(write, runtime, name)
            if version is None:
                raise NoCanary(
                    f"{name} has no canary in runtime {runtime!r}", runtime=runtime, name=name
                )
            self._activate(write, runtime, name, version)
        return version

    def abort(self, runtime: str, name: str) -> str:
        """Drop the canary: the active version takes every new execution again. Returns it."""
        with self.write() as write:
            version = self._drop_canary(write, runtime, name)
            if version is None:
                raise NoCanary(
                    f"{name} has no canary in runtime {runtime!r}", runtime=runtime, name=name
                )
        return version

    def canaries(self, runtime: str | None = None) -> list[CanaryDeployment]:
        """The canaries, of one runtime or of all."""
        with self._engine.connect() as conn:
            return canary_rules.listed(conn, runtime)

    def stored(self, runtime: str, name: str, version: str) -> ActiveDeployment | None:
        """One stored version, active or not (what an owed WAIT keeps hosted)."""
        query = select(_versions.c.runtime, _versions.c.spec, _versions.c.source).where(
            _versions.c.runtime == runtime, _versions.c.name == name, _versions.c.version == version
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return (
            None
            if row is None
            else ActiveDeployment(row.runtime, ServiceSpec.from_json(row.spec), row.source)
        )

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
                _canaries.c.percent.label("canary"),
            )
            .outerjoin(_deployments, active)
            .outerjoin(
                _canaries,
                (_canaries.c.runtime == _versions.c.runtime)
                & (_canaries.c.name == _versions.c.name)
                & (_canaries.c.version == _versions.c.version),
            )
            .where(_versions.c.runtime == runtime)
            .order_by(_versions.c.name, _versions.c.created_at, _versions.c.version)
        )
        if name is not None:
            query = query.where(_versions.c.name == name)
        with self._engine.connect() as conn:
            return [
                VersionRecord(r.name, r.version, r.digest, r.created_at, bool(r.active), r.canary)
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

    # -- runtimes the operator creates and removes (flowhost runtimes add|list|remove) ---------
    # One block, with RuntimeRecord, UnknownRuntime and RuntimeInUse below, so it moves as one
    # when the store is split into a package.

    def add_runtime(self, name: str) -> bool:
        """Create a runtime; False when it exists already."""
        check_name("runtime", name)
        with self.write() as write:
            found = write.connection.execute(
                select(_runtimes.c.name).where(_runtimes.c.name == name)
            ).first()
            if found:
                return False
            write.ensure_runtime(name)
        return True

    def has_runtime(self, name: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(select(_runtimes.c.name).where(_runtimes.c.name == name))
            return found.first() is not None

    def runtime_records(self) -> list[RuntimeRecord]:
        """Every created runtime with what it holds: users and active deployments."""
        with self._engine.connect() as conn:
            users: dict[str, int] = {}
            for runtime in conn.scalars(select(_users.c.runtime)):
                users[runtime] = users.get(runtime, 0) + 1
            active: dict[str, int] = {}
            query = select(_deployments.c.runtime).where(_deployments.c.version.is_not(None))
            for runtime in conn.scalars(query):
                active[runtime] = active.get(runtime, 0) + 1
            rows = conn.execute(
                select(_runtimes.c.name, _runtimes.c.created_at).order_by(_runtimes.c.name)
            )
            return [
                RuntimeRecord(r.name, r.created_at, users.get(r.name, 0), active.get(r.name, 0))
                for r in rows
            ]

    def remove_runtime(self, name: str, force: bool = False) -> None:
        """Remove a runtime with its stored versions, configuration values and policy.

        Refused (`RuntimeInUse`) while it has users or an active deployment, unless `force`,
        which removes those too: a runtime is not dropped from under a Flow connector by a
        typo. Execution history and the callbacks outbox keep their rows (what happened)."""
        with self.write() as write:
            conn = write.connection
            if not conn.execute(select(_runtimes.c.name).where(_runtimes.c.name == name)).first():
                raise UnknownRuntime(f"no runtime {name!r}", runtime=name)
            users = list(conn.scalars(select(_users.c.name).where(_users.c.runtime == name)))
            active = list(
                conn.scalars(
                    select(_deployments.c.name).where(
                        _deployments.c.runtime == name, _deployments.c.version.is_not(None)
                    )
                )
            )
            if (users or active) and not force:
                held = [
                    *([f"active packages {', '.join(sorted(active))}"] if active else []),
                    *([f"users {', '.join(sorted(users))}"] if users else []),
                ]
                raise RuntimeInUse(
                    f"runtime {name!r} still has {' and '.join(held)}: undeploy and remove them "
                    "first, or remove it with --force (force=true) to remove them with it",
                    runtime=name,
                )
            # Dependents first: every table of this store keyed by the runtime or by its users.
            for table in reversed(metadata.sorted_tables):
                if table is _runtimes:
                    continue
                if "runtime" in table.c:
                    conn.execute(table.delete().where(table.c.runtime == name))
                elif any(fk.column.table is _users for fk in table.foreign_keys):
                    (fk,) = [fk for fk in table.foreign_keys if fk.column.table is _users]
                    conn.execute(table.delete().where(fk.parent.in_(users)))
            conn.execute(_runtimes.delete().where(_runtimes.c.name == name))
            write.changed()


class Write:
    """One write transaction of the store (`Store.write()`): its connection, and what changed.

    Call `changed()` after a change other gateways must see: the generation moves once, at
    commit, however many changes the transaction made.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.changes = 0

    def changed(self) -> None:
        self.changes += 1

    def ensure_runtime(self, name: str) -> None:
        """Create the runtime in this transaction unless it exists already."""
        check_name("runtime", name)
        found = self.connection.execute(
            select(_runtimes.c.name).where(_runtimes.c.name == name)
        ).first()
        if found is None:
            self.connection.execute(insert(_runtimes).values(name=name, created_at=_now()))
            self.changed()

    def user_runtime(self, name: str) -> str | None:
        """The runtime of user `name`, None when there is no such user."""
        runtime: str | None = self.connection.execute(
            select(_users.c.runtime).where(_users.c.name == name)
        ).scalar_one_or_none()
        return runtime


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
