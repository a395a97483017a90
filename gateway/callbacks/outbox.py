"""The callback outbox: every callback Flow is owed, durably, in the store.

A row is written when the gateway answers Flow `WAIT` (state `running`: the execution goes on),
becomes `pending` when its result is in (the ServiceResponse to POST is then in `body`), and
ends `delivered` or, after the last attempt, `dead` (until someone redelivers it). Interim
progress callbacks are rows of kind `progress`, one per execution, superseded by the final one.

Rows are claimed with a lease before delivery, so several gateways sharing PostgreSQL never
deliver the same attempt twice. Synchronous and short, like the store: call it through
`asyncio.to_thread`, never on the Flow request path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, RowMapping

from gateway.store import StoreError
from gateway.store.schema import create_tables

RUNNING, PENDING, DELIVERED, DEAD, SUPERSEDED = (
    "running",
    "pending",
    "delivered",
    "dead",
    "superseded",
)
STATES = (RUNNING, PENDING, DELIVERED, DEAD, SUPERSEDED)
FINAL, PROGRESS = "final", "progress"

metadata = MetaData()

callbacks = Table(
    "flowhost_callbacks",
    metadata,
    Column("id", String(220), primary_key=True),  # execution id, or "<execution id>~progress"
    Column("execution_id", String(200), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("runtime", String(200), nullable=False),
    Column("service_path", String(1000), nullable=False),
    Column("action", String(200), nullable=False),
    Column("deployment", String(400), nullable=False),
    Column("process", String(200), nullable=False),
    Column("executor", String(300), nullable=False),  # address
    Column("executor_id", String(64), nullable=False),
    Column("callback_uri", Text, nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("flow_user", Text, nullable=False),  # Flow's user string, for Authorization
    Column("request", Text, nullable=False),  # token, tenantId, culture, outcomes (JSON)
    Column("body", Text, nullable=True),  # the ServiceResponse to POST, once known
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),  # epoch seconds: next attempt or next poll
    Column("lease_until", Float, nullable=True),
    Column("last_error", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Index("ix_flowhost_callbacks_due", "state", "next_at"),
)


class UnknownCallback(StoreError):
    code = "unknown_callback"


@dataclass(frozen=True, slots=True)
class Callback:
    """One row of the outbox, as the outbox returns it (times in epoch seconds)."""

    id: str  # the execution id, or "<execution id>~progress"
    execution_id: str
    kind: str  # FINAL | PROGRESS
    state: str  # one of STATES
    runtime: str
    service_path: str
    action: str
    deployment: str
    process: str
    executor: str  # address
    executor_id: str
    callback_uri: str
    tenant_id: str
    flow_user: str  # Flow's user string, for Authorization
    request: str  # token, tenantId, culture, outcomes (JSON)
    body: str | None  # the ServiceResponse to POST, once known
    attempts: int
    next_at: float  # next attempt, or next poll while running
    lease_until: float | None
    last_error: str
    started_at: float
    created_at: float
    updated_at: float
    delivered_at: float | None


def _callback(row: RowMapping) -> Callback:
    return Callback(**row)


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the outbox needs when the gateway answers WAIT."""

    execution_id: str
    runtime: str
    service_path: str
    action: str
    deployment: str
    process: str
    executor: str
    executor_id: str
    callback_uri: str
    tenant_id: str
    flow_user: str
    request: str
    started_at: float


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, metadata)

    # -- writes ---------------------------------------------------------------------------------

    def add_running(self, waiting: Waiting, poll_at: float) -> None:
        now = time.time()
        with self._engine.begin() as conn:
            conn.execute(
                insert(callbacks).values(
                    id=waiting.execution_id,
                    kind=FINAL,
                    state=RUNNING,
                    body=None,
                    attempts=0,
                    next_at=poll_at,
                    lease_until=None,
                    last_error="",
                    created_at=now,
                    updated_at=now,
                    delivered_at=None,
                    **_fields(waiting),
                )
            )

    def complete(self, execution_id: str, body: str) -> bool:
        """The result is in: the final callback becomes due now. False when it already was
        (another gateway, or the stream and a poll both brought it)."""
        now = time.time()
        with self._engine.begin() as conn:
            done = conn.execute(
                update(callbacks)
                .where(callbacks.c.id == execution_id, callbacks.c.state == RUNNING)
                .values(state=PENDING, body=body, next_at=now, updated_at=now)
            ).rowcount
            if done:
                conn.execute(
                    update(callbacks)
                    .where(
                        callbacks.c.execution_id == execution_id,
                        callbacks.c.kind == PROGRESS,
                        callbacks.c.state == PENDING,
                    )
                    .values(state=SUPERSEDED, updated_at=now)
                )
        return bool(done)

    def progress(self, execution_id: str, body: str) -> bool:
        """An interim WAIT callback, replacing one not yet delivered. False once the final
        result is in (progress after it means nothing to Flow)."""
        now = time.time()
        progress_id = f"{execution_id}~progress"
        with self._engine.begin() as conn:
            final = (
                conn.execute(select(callbacks).where(callbacks.c.id == execution_id))
                .mappings()
                .first()
            )
            if final is None or final["state"] != RUNNING:
                return False
            changed = conn.execute(
                update(callbacks)
                .where(callbacks.c.id == progress_id)
                .values(
                    state=PENDING,
                    body=body,
                    attempts=0,
                    next_at=now,
                    last_error="",
                    updated_at=now,
                    delivered_at=None,
                )
            ).rowcount
            if not changed:
                row = {k: final[k] for k in Waiting.__dataclass_fields__}
                row.pop("execution_id")
                conn.execute(
                    insert(callbacks).values(
                        id=progress_id,
                        execution_id=execution_id,
                        kind=PROGRESS,
                        state=PENDING,
                        body=body,
                        attempts=0,
                        next_at=now,
                        lease_until=None,
                        last_error="",
                        created_at=now,
                        updated_at=now,
                        delivered_at=None,
                        **row,
                    )
                )
        return True

    def postpone(self, callback_id: str, next_at: float, error: str = "") -> None:
        """A running execution polled and not done yet (or its executor not reachable)."""
        values: dict[str, Any] = {"next_at": next_at, "updated_at": time.time()}
        if error:
            values["last_error"] = error
        with self._engine.begin() as conn:
            conn.execute(update(callbacks).where(callbacks.c.id == callback_id).values(**values))

    def claim(self, now: float, lease_s: float, limit: int) -> list[Callback]:
        """Pending callbacks due now, leased to the caller for lease_s."""
        with self._engine.begin() as conn:
            candidates = list(
                conn.execute(
                    select(callbacks.c.id)
                    .where(
                        callbacks.c.state == PENDING,
                        callbacks.c.next_at <= now,
                        or_(callbacks.c.lease_until.is_(None), callbacks.c.lease_until < now),
                    )
                    .order_by(callbacks.c.next_at)
                    .limit(limit)
                ).scalars()
            )
        claimed = []
        for callback_id in candidates:
            with self._engine.begin() as conn:
                won = conn.execute(
                    update(callbacks)
                    .where(
                        callbacks.c.id == callback_id,
                        callbacks.c.state == PENDING,
                        or_(callbacks.c.lease_until.is_(None), callbacks.c.lease_until < now),
                    )
                    .values(lease_until=now + lease_s)
                ).rowcount
                if won:
                    row = conn.execute(
                        select(callbacks).where(callbacks.c.id == callback_id)
                    ).mappings()
                    claimed.append(_callback(row.one()))
        return claimed

    def release(self, callback_ids: list[str]) -> None:
        """Give up leases taken by a gateway that stops mid-delivery, so the next one need not
        wait for them to expire."""
        if callback_ids:
            with self._engine.begin() as conn:
                conn.execute(
                    update(callbacks)
                    .where(callbacks.c.id.in_(callback_ids), callbacks.c.state == PENDING)
                    .values(lease_until=None)
                )

    def running_due(self, now: float, limit: int) -> list[Callback]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(callbacks)
                .where(callbacks.c.state == RUNNING, callbacks.c.next_at <= now)
                .order_by(callbacks.c.next_at)
                .limit(limit)
            ).mappings()
            return [_callback(r) for r in rows]

    def owed_deployments(self) -> set[tuple[str, str]]:
        """(runtime, deployment key) of every execution still running behind a WAIT: the
        versions executors must keep hosting until their callbacks are owed no more."""
        query = (
            select(callbacks.c.runtime, callbacks.c.deployment)
            .where(callbacks.c.state == RUNNING)
            .distinct()
        )
        with self._engine.connect() as conn:
            return {(r.runtime, r.deployment) for r in conn.execute(query)}

    def delivered(self, claimed: Callback, attempts: int) -> bool:
        return self._finish(
            claimed,
            state=DELIVERED,
            attempts=attempts,
            delivered_at=time.time(),
            lease_until=None,
            last_error="",
        )

    def retry(self, claimed: Callback, attempts: int, next_at: float, error: str) -> bool:
        return self._finish(
            claimed, attempts=attempts, next_at=next_at, lease_until=None, last_error=error
        )

    def dead(self, claimed: Callback, attempts: int, error: str) -> bool:
        return self._finish(
            claimed, state=DEAD, attempts=attempts, lease_until=None, last_error=error
        )

    def _finish(self, claimed: Callback, **values: Any) -> bool:
        """Record the outcome of an attempt made under `claimed`'s lease, only while that lease
        is still the row's: a gateway whose lease ran out (it was paused, or Flow answered it
        later than the lease) and whose callback another gateway claimed since must not
        overwrite that attempt; clearing the other's lease would let a third gateway send the
        callback too. And only while pending: a superseded progress callback stays superseded.
        False when the outcome was not recorded."""
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    update(callbacks)
                    .where(
                        callbacks.c.id == claimed.id,
                        callbacks.c.state == PENDING,
                        callbacks.c.lease_until == claimed.lease_until,
                    )
                    .values(updated_at=time.time(), **values)
                ).rowcount
            )

    def redeliver(self, callback_id: str) -> Callback:
        """Send a dead (or delivered) callback again, from the first attempt."""
        now = time.time()
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(callbacks)
                .where(
                    callbacks.c.id == callback_id,
                    callbacks.c.state.in_((DEAD, DELIVERED)),
                )
                .values(state=PENDING, attempts=0, next_at=now, lease_until=None, updated_at=now)
            ).rowcount
        row = self.get(callback_id)
        if not changed:
            raise StoreError(
                f"callback {callback_id} is {row.state}; only dead or delivered callbacks "
                "can be redelivered",
                callback=callback_id,
            )
        return row

    def prune(self, older_than: float) -> int:
        """Forget delivered and superseded callbacks last touched before `older_than`."""
        with self._engine.begin() as conn:
            return int(
                conn.execute(
                    delete(callbacks).where(
                        callbacks.c.state.in_((DELIVERED, SUPERSEDED)),
                        callbacks.c.updated_at < older_than,
                    )
                ).rowcount
            )

    # -- reads ----------------------------------------------------------------------------------

    def get(self, callback_id: str) -> Callback:
        with self._engine.connect() as conn:
            row = conn.execute(select(callbacks).where(callbacks.c.id == callback_id)).mappings()
            found: RowMapping | None = row.first()
        if found is None:
            raise UnknownCallback(f"no callback {callback_id!r}", callback=callback_id)
        return _callback(found)

    def of_execution(self, execution_id: str) -> list[Callback]:
        """The callbacks one execution owes (its final one and any progress), oldest first."""
        query = (
            select(callbacks)
            .where(callbacks.c.execution_id == execution_id)
            .order_by(callbacks.c.created_at)
        )
        with self._engine.connect() as conn:
            return [_callback(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[tuple[str, str], int]:
        """How many callbacks each (runtime, state) holds, for /metrics."""
        query = select(callbacks.c.runtime, callbacks.c.state, func.count()).group_by(
            callbacks.c.runtime, callbacks.c.state
        )
        with self._engine.connect() as conn:
            return {(runtime, state): count for runtime, state, count in conn.execute(query)}

    def list(
        self, state: str | None = None, runtime: str | None = None, limit: int = 100
    ) -> list[Callback]:
        query = select(callbacks).order_by(callbacks.c.created_at.desc()).limit(limit)
        conditions = []
        if state is not None:
            conditions.append(callbacks.c.state == state)
        if runtime is not None:
            conditions.append(callbacks.c.runtime == runtime)
        if conditions:
            query = query.where(and_(*conditions))
        with self._engine.connect() as conn:
            return [_callback(r) for r in conn.execute(query).mappings()]


def _fields(waiting: Waiting) -> dict[str, Any]:
    return {name: getattr(waiting, name) for name in Waiting.__dataclass_fields__}
