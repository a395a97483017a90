"""The canary rules, inside a store write: one canary per package and runtime, beside an active
version of the same service path.

Plain functions over the write's connection (`Store.deploy`, `promote`, `abort` and
`deactivate` call them and count the change), so the store's largest module keeps to its
operations and this one to what a canary may be.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row

from gateway.spec import ServiceSpec
from gateway.store.errors import CanaryExists, NothingToCanary
from gateway.store.records import CanaryDeployment
from gateway.store.schema import canaries, versions

__all__ = ["drop", "listed", "of", "put"]


def of(conn: Connection, runtime: str, name: str) -> Row[Any, Any] | None:
    """The canary of package `name` in `runtime` (version, percent), None without one."""
    return conn.execute(
        select(canaries.c.version, canaries.c.percent).where(
            canaries.c.runtime == runtime, canaries.c.name == name
        )
    ).first()


def drop(conn: Connection, runtime: str, name: str) -> str | None:
    """Remove the canary; returns its version, None when there was none."""
    canary = of(conn, runtime, name)
    if canary is None:
        return None
    conn.execute(canaries.delete().where(canaries.c.runtime == runtime, canaries.c.name == name))
    return str(canary.version)


def put(
    conn: Connection, runtime: str, spec: ServiceSpec, active: str | None, percent: int
) -> bool:
    """Make the stored `spec` the canary beside `active`; returns whether anything changed.

    The same version again with another percent only changes its share."""
    name, version = spec.name, spec.version
    if active is None:
        raise NothingToCanary(
            f"{name} is not deployed in runtime {runtime!r}: a canary runs beside an active "
            "version; deploy it without --canary first",
            runtime=runtime,
            name=name,
        )
    if active == version:
        raise NothingToCanary(
            f"{name} {version} is the active version in runtime {runtime!r} already",
            runtime=runtime,
            name=name,
            version=version,
        )
    active_path = conn.execute(
        select(versions.c.service_path).where(
            versions.c.runtime == runtime, versions.c.name == name, versions.c.version == active
        )
    ).scalar_one()
    path = spec.service_path.strip("/")
    if path != active_path:
        raise NothingToCanary(
            f"{name} {version} serves /fs/{path} but the active {active} serves "
            f"/fs/{active_path}; a canary shares its service's path",
            runtime=runtime,
            name=name,
            version=version,
        )
    existing = of(conn, runtime, name)
    if existing is not None and existing.version != version:
        raise CanaryExists(
            f"{name} {existing.version} is the canary of {name} in runtime {runtime!r} "
            f"already; promote or abort it before deploying {version}",
            runtime=runtime,
            name=name,
            version=existing.version,
        )
    if existing is not None and existing.percent == percent:
        return False
    values = {"percent": percent, "updated_at": datetime.now(UTC)}
    if existing is None:
        conn.execute(insert(canaries).values(runtime=runtime, name=name, version=version, **values))
    else:
        conn.execute(
            update(canaries)
            .where(canaries.c.runtime == runtime, canaries.c.name == name)
            .values(values)
        )
    return True


def listed(conn: Connection, runtime: str | None) -> list[CanaryDeployment]:
    """The canaries with their specs, of one runtime or of all."""
    query = (
        select(versions.c.runtime, versions.c.spec, versions.c.source, canaries.c.percent)
        .join(
            canaries,
            (canaries.c.runtime == versions.c.runtime)
            & (canaries.c.name == versions.c.name)
            & (canaries.c.version == versions.c.version),
        )
        .order_by(versions.c.runtime, versions.c.name)
    )
    if runtime is not None:
        query = query.where(versions.c.runtime == runtime)
    return [
        CanaryDeployment(r.runtime, ServiceSpec.from_json(r.spec), r.source, r.percent)
        for r in conn.execute(query)
    ]
