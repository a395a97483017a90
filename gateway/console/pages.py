"""The console's pages (GET): each reads through the objects and functions the management API's
routers use, and renders one template."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.executions import find_execution, query_executions
from gateway.api.status import runtime_names
from gateway.callbacks.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    RUNNING,
    STATES,
    SUPERSEDED,
    Callback,
)
from gateway.console.backend import Backend
from gateway.console.gate import console_of, live, page
from gateway.console.render import render
from gateway.console.sessions import Session
from gateway.errors import GatewayError
from gateway.history.store import ExecutionSummary
from gateway.reconcile import ExecutorStatus

__all__ = [
    "callbacks",
    "deployments",
    "execution",
    "executions",
    "runtimes",
    "runtimes_fragment",
    "services",
    "users",
]

EXECUTION_STATUSES = ("ok", "failed", "deadline", "cancelled", "lost")
#: The callbacks page's tabs: what each shows.
CALLBACK_VIEWS: dict[str, tuple[str, ...]] = {
    "waiting": (RUNNING, PENDING),
    "dead": (DEAD,),
    "delivered": (DELIVERED,),
    "superseded": (SUPERSEDED,),
    "all": STATES,
}
_LIST_LIMIT = 100


def _backend(request: Request) -> Backend:
    return console_of(request).backend


def _query(request: Request, name: str) -> str | None:
    """A filter from the query string; empty means no filter."""
    value = request.query_params.get(name, "").strip()
    return value[:200] or None


async def _runtime_groups(backend: Backend) -> list[dict[str, Any]]:
    control = backend.control
    statuses = control.reconciler.statuses()
    groups: dict[str, list[ExecutorStatus]] = defaultdict(list)
    for status in statuses:
        groups[status.runtime].append(status)
    names = await runtime_names(control)
    result = [
        {
            "name": name,
            "executors": groups.get(name, []),
            "ready": sum(1 for s in groups.get(name, []) if s.ready),
            "services": control.registry.services(name),
        }
        for name in names
    ]
    if groups.get(""):  # listed, but never described: unreachable or not of this cluster
        result.append({"name": "", "executors": groups[""], "ready": 0, "services": []})
    return result


@page
async def runtimes(request: Request, session: Session) -> Response:
    groups = await _runtime_groups(_backend(request))
    return render(request, "runtimes.html", session, runtimes=groups)


@live
async def runtimes_fragment(request: Request, session: Session) -> Response:
    groups = await _runtime_groups(_backend(request))
    return render(request, "_runtimes.html", session, runtimes=groups)


@page
async def services(request: Request, session: Session) -> Response:
    backend = _backend(request)
    control = backend.control
    counts = backend.flow.metrics.by_version()
    found = []
    for runtime in await runtime_names(control):
        versions = await control.call(control.store.versions, runtime, None)
        by_name = defaultdict(list)
        for record in versions:
            by_name[record.name].append(record)
        for service in control.registry.services(runtime):
            path = service.spec.service_path.strip("/")
            kept = {k.spec.version for k in control.registry.retained(runtime)}
            found.append(
                {
                    "runtime": runtime,
                    "service": service,
                    "versions": by_name[service.spec.name],
                    "kept": kept,
                    "counts": {
                        v.version: counts.get((runtime, service.spec.service_path, v.version))
                        for v in by_name[service.spec.name]
                    },
                    "pause": control.listeners.pause_of(runtime, path),
                    "traffic": control.listeners.traffic(runtime, path),
                }
            )
    return render(request, "services.html", session, services=found)


async def deployments_context(backend: Backend) -> dict[str, Any]:
    """What the deployments page shows; the deploy action renders it again with its errors."""
    control = backend.control
    names = await runtime_names(control)
    packages = []
    for runtime in names:
        by_name = defaultdict(list)
        for record in await control.call(control.store.versions, runtime, None):
            by_name[record.name].append(record)
        for name, versions in sorted(by_name.items()):
            packages.append(
                {
                    "runtime": runtime,
                    "name": name,
                    "versions": sorted(versions, key=lambda r: r.created_at, reverse=True),
                    "active": next((v.version for v in versions if v.active), None),
                }
            )
    return {"runtimes": names, "packages": packages}


@page
async def deployments(request: Request, session: Session) -> Response:
    context = await deployments_context(_backend(request))
    return render(
        request,
        "deployments.html",
        session,
        **context,
        problem=None,
        issues=[],
        chosen_runtime=_query(request, "runtime") or "",
    )


@page
async def executions(request: Request, session: Session) -> Response:
    backend = _backend(request)
    control = backend.control
    filters = {
        name: _query(request, name) for name in ("runtime", "package", "process", "status", "since")
    }
    problem = ""
    rows: list[ExecutionSummary] = []
    try:
        rows = await query_executions(backend.history, **filters, limit=_LIST_LIMIT)
    except GatewayError as error:
        problem = error.message
    names = await runtime_names(control)
    packages = sorted(
        {(s.spec.name, s.spec.service_path) for n in names for s in control.registry.services(n)}
    )
    return render(
        request,
        "executions.html",
        session,
        rows=rows,
        filters=filters,
        problem=problem,
        runtimes=names,
        packages=packages,
        statuses=EXECUTION_STATUSES,
        limit=_LIST_LIMIT,
    )


@page
async def execution(request: Request, session: Session) -> Response:
    backend = _backend(request)
    execution_id = request.path_params["execution_id"]
    row = await find_execution(backend.history, execution_id)
    owed = await backend.control.call(backend.outbox.of_execution, execution_id)
    return render(request, "execution.html", session, execution=row, callbacks=owed)


@page
async def callbacks(request: Request, session: Session) -> Response:
    backend = _backend(request)
    view = request.query_params.get("view", "waiting")
    if view not in CALLBACK_VIEWS:
        view = "waiting"
    runtime = _query(request, "runtime")
    rows: list[Callback] = []
    for state in CALLBACK_VIEWS[view] if view != "all" else (None,):
        rows.extend(await backend.control.call(backend.outbox.list, state, runtime, _LIST_LIMIT))
    rows.sort(key=lambda r: r.created_at, reverse=True)
    return render(
        request,
        "callbacks.html",
        session,
        rows=rows[:_LIST_LIMIT],
        view=view,
        views=list(CALLBACK_VIEWS),
        runtime=runtime or "",
        runtimes=await runtime_names(backend.control),
    )


async def users_context(backend: Backend) -> dict[str, Any]:
    control = backend.control
    names = await runtime_names(control)
    records = await control.call(control.store.users, None)
    by_runtime = defaultdict(list)
    for record in records:
        by_runtime[record.runtime].append(record)
    return {"runtimes": names, "users": dict(by_runtime)}


@page
async def users(request: Request, session: Session) -> Response:
    context = await users_context(_backend(request))
    return render(request, "users.html", session, **context, issued=None, problem="")
