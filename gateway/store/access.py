"""Runtime users' access rules: a bound client certificate, client networks, named services.

A table of its own (`flowhost_user_access`, one row per restricted user) beside the store's
users table, so an existing flowhost.db keeps working: the store creates the table when missing,
and a user without a row has no restriction. Writes go through the store's write transaction and
bump its generation, so every gateway sharing the database reloads its authenticator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from gateway.store.errors import CertificateInUse, UnknownUser
from gateway.store.records import UserAccess
from gateway.store.schema import user_access as _access
from gateway.store.store import Store

__all__ = ["AccessStore"]


class AccessStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        # The store creates it; this covers a table dropped since (or a store made before it).
        _access.create(store.engine, checkfirst=True)

    def all(self) -> list[UserAccess]:
        with self._store.engine.connect() as conn:
            return [_record(row) for row in conn.execute(select(_access))]

    def get(self, name: str) -> UserAccess:
        with self._store.engine.connect() as conn:
            row = conn.execute(select(_access).where(_access.c.name == name)).first()
        if row is not None:
            return _record(row)
        if not any(u.name == name for u in self._store.users()):
            raise UnknownUser(f"no user {name!r}", user=name)
        return UserAccess(name)

    def set(
        self,
        name: str,
        *,
        client_cert_sha256: str | None = None,
        allow_ips: list[str] | None = None,
        services: list[str] | None = None,
    ) -> UserAccess:
        """Change what is given (None keeps it; "" or [] clears it) and return the result."""
        with self._store.write() as write:
            if write.user_runtime(name) is None:
                raise UnknownUser(f"no user {name!r}", user=name)
            conn = write.connection
            row = conn.execute(select(_access).where(_access.c.name == name)).first()
            current = _record(row) if row is not None else UserAccess(name)
            cert = current.client_cert_sha256 if client_cert_sha256 is None else client_cert_sha256
            if cert:
                holder = conn.execute(
                    select(_access.c.name).where(
                        (_access.c.client_cert_sha256 == cert) & (_access.c.name != name)
                    )
                ).scalar_one_or_none()
                if holder is not None:
                    raise CertificateInUse(
                        f"that client certificate is bound to user {holder!r} already",
                        user=holder,
                    )
            result = UserAccess(
                name,
                cert or None,
                current.allow_ips if allow_ips is None else tuple(allow_ips),
                current.services if services is None else tuple(services),
            )
            values = {
                "client_cert_sha256": result.client_cert_sha256,
                "allow_ips": list(result.allow_ips),
                "services": list(result.services),
                "updated_at": datetime.now(UTC),
            }
            if row is None:
                conn.execute(insert(_access).values(name=name, **values))
            else:
                conn.execute(update(_access).where(_access.c.name == name).values(**values))
            write.changed()
        return result


def _record(row: Row[Any, Any]) -> UserAccess:
    return UserAccess(row.name, row.client_cert_sha256, tuple(row.allow_ips), tuple(row.services))
