"""Paused listeners in the gateway's store: one row per (runtime, service path) the operator paused.

A pause belongs to the service path in its runtime, not to a package version: deploying a new
version, rolling back, or undeploying and deploying again leave the service paused until someone
resumes it, so a pause made for maintenance is never lifted by a deployment. Writes take the
store's write lock and bump its generation, so every gateway sharing the database reloads them
at its next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, delete, insert, select, update

from gateway.store import Store
from gateway.store.schema import NAME_MAX, UTCDateTime, metadata

__all__ = ["REASON_MAX_CHARS", "Pause", "PauseStore"]

REASON_MAX_CHARS = 500  # the pause's reason is shown to Flow in the 503's message

_pauses = Table(
    "flowhost_listener_pauses",
    metadata,
    Column("runtime", String(NAME_MAX), ForeignKey("flowhost_runtimes.name"), primary_key=True),
    Column("service_path", String(1000), primary_key=True),
    Column("reason", String(REASON_MAX_CHARS), nullable=False),
    Column("retry_after_s", Integer, nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    retry_after_s: int  # what the 503 tells Flow in Retry-After
    paused_at: datetime


class PauseStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        _pauses.create(store.engine, checkfirst=True)  # also on a database made before it

    def all(self) -> dict[tuple[str, str], Pause]:
        """Every pause, by (runtime, service path)."""
        with self._store.engine.connect() as conn:
            return {
                (r.runtime, r.service_path): Pause(r.reason, r.retry_after_s, r.paused_at)
                for r in conn.execute(select(_pauses))
            }

    def pause(self, runtime: str, path: str, reason: str, retry_after_s: int) -> Pause:
        """Pause (or re-pause with a new reason); the first pause's time is kept."""
        with self._store.write() as write:
            conn = write.connection
            found = conn.execute(
                select(_pauses).where(_pauses.c.runtime == runtime, _pauses.c.service_path == path)
            ).first()
            if found is None:
                pause = Pause(reason, retry_after_s, datetime.now(UTC))
                conn.execute(
                    insert(_pauses).values(
                        runtime=runtime,
                        service_path=path,
                        reason=reason,
                        retry_after_s=retry_after_s,
                        paused_at=pause.paused_at,
                    )
                )
            elif (found.reason, found.retry_after_s) != (reason, retry_after_s):
                pause = Pause(reason, retry_after_s, found.paused_at)
                conn.execute(
                    update(_pauses)
                    .where(_pauses.c.runtime == runtime, _pauses.c.service_path == path)
                    .values(reason=reason, retry_after_s=retry_after_s)
                )
            else:
                return Pause(found.reason, found.retry_after_s, found.paused_at)
            write.changed()
        return pause

    def resume(self, runtime: str, path: str) -> bool:
        """Lift the pause; False when the service was not paused."""
        with self._store.write() as write:
            gone = write.connection.execute(
                delete(_pauses).where(_pauses.c.runtime == runtime, _pauses.c.service_path == path)
            ).rowcount
            if gone:
                write.changed()
        return bool(gone)
