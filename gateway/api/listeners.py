"""Listeners (Boomi's Listeners panel): every deployed service with its traffic; pause, resume.

A paused service answers every Flow call under /fs/<path>/ with a 503 ServiceProblem, code
`listener_paused`, and a Retry-After header, and runs nothing; executions already running
finish. The pause is kept in the store, so it survives a restart and reaches every gateway
sharing the database at its next poll (FLOWHOST_STATE_POLL_INTERVAL_S).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.api.deps import Control
from gateway.listeners.store import REASON_MAX_CHARS
from gateway.services import DeployedService
from gateway.store import VersionRecord

router = APIRouter(tags=["listeners"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such runtime, or no such service deployed in it"}
}


class ListenerRef(BaseModel):
    runtime: str = Field(min_length=1, max_length=200, description="The runtime.")
    service: str = Field(
        min_length=1,
        max_length=1000,
        description="The service path, as in /fs/<path> (slashes at either end are ignored).",
    )


class PauseIn(ListenerRef):
    reason: str = Field(
        "", max_length=REASON_MAX_CHARS, description="Shown to Flow in the 503's message."
    )
    retry_after_s: int = Field(
        30, ge=1, le=86_400, description="What the 503's Retry-After header tells Flow."
    )


class ListenerOut(BaseModel):
    runtime: str
    service: str = Field(
        description="The service path: Flow calls /fs/<service>/…; for a trigger "
        "`<service path>#<trigger name>`"
    )
    kind: str = Field(
        "service",
        description="service (Flow's calls), or a trigger: webhook | schedule | subscribe",
    )
    package: str | None = Field(description="None: paused, but no version is deployed now.")
    active_version: str | None
    other_versions: list[str] = Field(description="The package's stored, inactive versions.")
    actions: int = Field(description="How many message actions the active version offers.")
    data_types: int = Field(description="How many Flow types have data actions.")
    file_resources: int
    paused: bool
    paused_at: datetime | None
    reason: str = Field(description="Why it was paused, as the operator said.")
    retry_after_s: int | None
    requests: int = Field(description="Calls this gateway received since it started.")
    errors: int = Field(description="Of those, answered with a 4xx or 5xx while serving.")
    server_errors: int = Field(description="Of the errors, 5xx.")
    refused: int = Field(description="Calls answered 503 listener_paused.")
    requests_per_s: float = Field(description="Over the last `rate_window_s` seconds.")
    errors_per_s: float
    rate_window_s: float = Field(description="Up to 60 s; less just after the gateway started.")


def _listener_out(
    control: Control,
    runtime: str,
    path: str,
    service: DeployedService | None,
    versions: list[VersionRecord],
) -> ListenerOut:
    pause = control.listeners.pause_of(runtime, path)
    traffic = control.listeners.traffic(runtime, path)
    spec = service.spec if service is not None else None
    trigger = spec.trigger(path.partition("#")[2]) if spec and "#" in path else None
    return ListenerOut(
        runtime=runtime,
        service=path,
        kind=trigger.kind if trigger else "service",
        package=spec.name if spec else None,
        active_version=spec.version if spec else None,
        other_versions=[
            v.version for v in versions if spec and v.name == spec.name and not v.active
        ],
        actions=len(spec.actions) if spec else 0,
        data_types=len(spec.data) if spec else 0,
        file_resources=len(spec.files) if spec else 0,
        paused=pause is not None,
        paused_at=pause.paused_at if pause else None,
        reason=pause.reason if pause else "",
        retry_after_s=pause.retry_after_s if pause else None,
        requests=traffic.requests,
        errors=traffic.errors,
        server_errors=traffic.server_errors,
        refused=traffic.refused,
        requests_per_s=traffic.requests_per_s,
        errors_per_s=traffic.errors_per_s,
        rate_window_s=traffic.window_s,
    )


async def _of_runtime(control: Control, runtime: str, only: str | None = None) -> list[ListenerOut]:
    versions = await control.call(control.store.versions, runtime)
    services = {s.spec.service_path.strip("/"): s for s in control.registry.services(runtime)}
    services |= {
        f"{path}#{t.name}": s for path, s in list(services.items()) for t in s.spec.triggers
    }
    paused = {p for r, p in control.listeners.paused() if r == runtime}
    paths = sorted(set(services) | paused) if only is None else [only]
    return [
        _listener_out(control, runtime, p, services.get(p.partition("#")[0]), versions)
        for p in paths
    ]


@router.get(
    "/api/listeners",
    response_model=list[ListenerOut],
    summary="Every deployed service per runtime, paused or not, with this gateway's traffic",
    description="Services paused and since undeployed are listed too (`package` null), so "
    "that a pause waiting for the next deployment can be seen and lifted.",
    responses=_NOT_FOUND,
)
async def list_listeners(control: Control, runtime: str | None = None) -> list[ListenerOut]:
    if runtime is not None:
        await control.known_runtime(runtime)
        return await _of_runtime(control, runtime)
    runtimes = set(await control.call(control.store.runtimes))
    runtimes |= {s.runtime for s in control.reconciler.statuses() if s.runtime}
    return [row for name in sorted(runtimes) for row in await _of_runtime(control, name)]


@router.post(
    "/api/listeners/pause",
    response_model=ListenerOut,
    summary="Pause a service: Flow calls get 503 listener_paused; running executions finish",
    description="Answers once this gateway refuses the service; other gateways sharing the "
    "store follow within FLOWHOST_STATE_POLL_INTERVAL_S. Pausing a paused service updates its "
    "reason and Retry-After. The pause outlives new versions and redeployments.",
    responses=_NOT_FOUND,
)
async def pause(body: PauseIn, control: Control) -> ListenerOut:
    path = await control.set_paused(
        body.runtime, body.service, True, body.reason, body.retry_after_s
    )
    return (await _of_runtime(control, body.runtime, path))[0]


@router.post(
    "/api/listeners/resume",
    response_model=ListenerOut,
    summary="Resume a paused service: Flow calls are served again",
    description="Resuming a service that is not paused changes nothing and answers 200.",
    responses=_NOT_FOUND,
)
async def resume(body: ListenerRef, control: Control) -> ListenerOut:
    path = await control.set_paused(body.runtime, body.service, False)
    return (await _of_runtime(control, body.runtime, path))[0]
