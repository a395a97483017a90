"""Schedule leases: one row per (trigger, due time) that fired, in the shared store.

Every gateway sharing the database computes the same due times and tries to INSERT the row of
each; the primary key lets exactly one succeed, and only that gateway runs the process. No
clock agreement is needed beyond the schedule tick, no lock is held, and the rows tell the last
fire after a restart (the `missed` policy). Old rows are pruned, the latest of each trigger kept.
"""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Column, Engine, String, Table, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.schema import NAME_MAX, metadata

__all__ = ["FireStore"]

KEEP_S = 86_400.0  # rows younger than this stay; older ones but each trigger's latest go

_fires = Table(
    "flowhost_trigger_fires",
    metadata,
    Column("runtime", String(NAME_MAX), primary_key=True),
    Column("package", String(NAME_MAX), primary_key=True),
    Column("trigger", String(NAME_MAX), primary_key=True),
    Column("due_ms", BigInteger, primary_key=True),  # the due time, ms since the epoch
    Column("claimed_ms", BigInteger, nullable=False),  # when a gateway took it
    Column("execution_id", String(64), nullable=False),
)

Key = tuple[str, str, str]  # runtime, package, trigger


class FireStore:
    """Leases on due times. Blocking calls: run them in a thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, key: Key, due_ms: int, execution_id: str) -> bool:
        """True for the one gateway that takes this due time; False for every other."""
        runtime, package, trigger = key
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(_fires).values(
                        runtime=runtime,
                        package=package,
                        trigger=trigger,
                        due_ms=due_ms,
                        claimed_ms=int(time.time() * 1000),
                        execution_id=execution_id,
                    )
                )
        except IntegrityError:
            return False
        return True

    def last_due_ms(self, key: Key) -> int | None:
        """The latest due time that fired, by any gateway; None when it never fired."""
        runtime, package, trigger = key
        with self._engine.connect() as conn:
            return conn.execute(
                select(func.max(_fires.c.due_ms)).where(
                    _fires.c.runtime == runtime,
                    _fires.c.package == package,
                    _fires.c.trigger == trigger,
                )
            ).scalar()

    def prune(self, now_s: float) -> int:
        """Drop rows older than a day, keeping each trigger's latest (its last fire)."""
        latest = _fires.alias("latest")
        newest = (
            select(func.max(latest.c.due_ms))
            .where(
                and_(
                    latest.c.runtime == _fires.c.runtime,
                    latest.c.package == _fires.c.package,
                    latest.c.trigger == _fires.c.trigger,
                )
            )
            .scalar_subquery()
        )
        cutoff = int((now_s - KEEP_S) * 1000)
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(_fires).where(_fires.c.due_ms < cutoff, _fires.c.due_ms < newest)
            )
            return int(result.rowcount or 0)
