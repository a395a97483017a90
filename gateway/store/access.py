"""Runtime users' access rules: a bound client certificate, client networks, named services.

A table of its own (`flowhost_user_access`, one row per restricted user) beside the store's
users table, so an existing flowhost.db keeps working: the table is created when missing, and a
user without a row has no restriction. Writes go through the store's write transaction and bump
its generation, so every gateway sharing the database reloads its authenticator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, Table, insert, select, update
from sqlalchemy.engine import Row

from gateway.store import Store, StoreError, UnknownUser
from gateway.store import store as store_module

__all__ = ["AccessStore", "CertificateInUse", "UserAccess"]


class CertificateInUse(StoreError):
    code = "certificate_in_use"


@dataclass(frozen=True, slots=True)
class UserAccess:
    """What a runtime user is bound to and limited to; empty tuples: no restriction."""

    name: str
    client_cert_sha256: str | None = None
    allow_ips: tuple[str, ...] = ()  # CIDRs, normalised
    services: tuple[str, ...] = ()  # service paths without slashes at either end


_access = Table(
    "flowhost_user_access",
    store_module.metadata,
    Column(
        "name",
        String(store_module._NAME),
        ForeignKey("flowhost_users.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    # A certificate logs in one user only.
    Column("client_cert_sha256", String(64), nullable=True, unique=True),
    Column("allow_ips", JSON, nullable=False),
    Column("services", JSON, nullable=False),
    Column("updated_at", store_module._UTCDateTime, nullable=False),
)


class AccessStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        _access.create(store.engine, checkfirst=True)  # also on a database made before it

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
        with self._store._write() as conn:
            if (
                conn.execute(
                    select(store_module._users.c.name).where(store_module._users.c.name == name)
                ).first()
                is None
            ):
                raise UnknownUser(f"no user {name!r}", user=name)
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
            Store._bump(conn)
        return result


def _record(row: Row[Any, Any]) -> UserAccess:
    return UserAccess(row.name, row.client_cert_sha256, tuple(row.allow_ips), tuple(row.services))
