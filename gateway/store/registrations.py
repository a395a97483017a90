"""Executors that registered themselves, kept in the gateway's store with an expiry.

Every gateway sharing the database dials every live registration, whichever gateway took it.
A registration is renewed by its executor's heartbeats; one that is not renewed (a lost executor)
stops being live at its expiry, and one that left is expired at once. Rows are kept a while after
that, with the timestamp of the last message accepted for the address, so an old message replayed
is refused (`gateway/registration.py` checks signatures; this module only keeps the rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from gateway.store.errors import UnknownRuntime
from gateway.store.schema import check_name, runtimes
from gateway.store.schema import executor_registrations as registrations
from gateway.store.store import Store

__all__ = ["Registration", "RegistrationStore"]


@dataclass(frozen=True, slots=True)
class Registration:
    address: str
    runtime: str
    executor_id: str
    expires_at: datetime


class RegistrationStore:
    def __init__(
        self, store: Store, keep_s: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """`keep_s`: how long a row outlives its expiry (longer than a message may be replayed);
        `clock`: now, as an aware datetime (tests move it instead of sleeping)."""
        self._clock = clock
        self._store = store
        self._keep = timedelta(seconds=keep_s)
        registrations.create(store.engine, checkfirst=True)  # a store made before this table

    def live(self) -> list[Registration]:
        """The registrations not expired, by address."""
        query = (
            select(registrations)
            .where(registrations.c.expires_at > self._clock())
            .order_by(registrations.c.address)
        )
        with self._store.engine.connect() as conn:
            return [
                Registration(r.address, r.runtime, r.executor_id, r.expires_at)
                for r in conn.execute(query)
            ]

    def register(
        self, address: str, runtime: str, executor_id: str, signed_at_ms: int, ttl_s: float
    ) -> bool:
        """Register or renew `address` until ttl_s from now; False (nothing written) when a
        message signed at or after `signed_at_ms` was accepted for it already (a replay).
        Raises UnknownRuntime: an executor joins a runtime the operator created."""
        check_name("runtime", runtime)
        expires_at = self._clock() + timedelta(seconds=ttl_s)
        with self._store.write() as write:
            conn = write.connection
            known = select(runtimes.c.name).where(runtimes.c.name == runtime)
            if conn.execute(known).first() is None:
                raise UnknownRuntime(
                    f"no runtime {runtime!r}: create it first (flowhost runtimes add {runtime})",
                    runtime=runtime,
                )
            values = {
                "runtime": runtime,
                "executor_id": executor_id,
                "signed_at_ms": signed_at_ms,
                "expires_at": expires_at,
            }
            previous = self._last_signed(conn, address)
            if previous is None:
                conn.execute(insert(registrations).values(address=address, **values))
            elif previous >= signed_at_ms:
                return False
            else:
                conn.execute(
                    update(registrations).where(registrations.c.address == address).values(values)
                )
            self._purge(conn)
        return True

    def leave(self, address: str, signed_at_ms: int) -> bool:
        """Expire `address` now; False when the message is a replay (as in `register`). An
        address never registered has nothing to leave: True, nothing written."""
        with self._store.write() as write:
            previous = self._last_signed(write.connection, address)
            if previous is None:
                return True
            if previous >= signed_at_ms:
                return False
            write.connection.execute(
                update(registrations)
                .where(registrations.c.address == address)
                .values(signed_at_ms=signed_at_ms, expires_at=self._clock())
            )
        return True

    @staticmethod
    def _last_signed(conn: Connection, address: str) -> int | None:
        query = select(registrations.c.signed_at_ms).where(registrations.c.address == address)
        found: int | None = conn.execute(query).scalar_one_or_none()
        return found

    def _purge(self, conn: Connection) -> None:
        cutoff = self._clock() - self._keep
        conn.execute(delete(registrations).where(registrations.c.expires_at < cutoff))
