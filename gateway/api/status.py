"""Runtimes, executors and what each runtime serves."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Control, running
from gateway.control import ControlPlane
from gateway.services import DeployedService

router = APIRouter(tags=["status"])


class ExecutorOut(BaseModel):
    address: str
    runtime: str
    executor_id: str
    ready: bool
    deployments: list[str]
    outstanding: int
    problem: str
    connected_since: str | None = Field(
        None, description="When its execution stream opened (a restart opens a new one)"
    )
    stream: str = Field(
        "",
        description="What carries its execution stream: `link` (the execution link, a plain "
        "socket), `grpc` (the Execute RPC: the executor offers no link, or its port cannot be "
        "reached), or empty while there is none",
    )


class VersionTraffic(BaseModel):
    version: str
    role: str = Field(description="active, canary or kept (for WAITs still owed a callback)")
    percent: int = Field(description="Share of new executions it takes")
    requests: int = Field(description="Flow requests this gateway answered with it")
    errors: int = Field(description="Of those, answers of status 500 or more")


class ServiceOut(BaseModel):
    path: str
    package: str
    version: str
    actions: list[str]
    versions: list[VersionTraffic] = []


class AdmissionOut(BaseModel):
    """This gateway's admission of the runtime's Flow requests now (docs/operations.md,
    "Admission limits")."""

    in_flight: int = 0
    queued: int = 0
    detached: int = Field(0, description="Executions running on past a WAIT answer")
    refused: dict[str, int] = Field(
        {}, description="Refused since the gateway started, by limit: runtime, user, detached"
    )


class RuntimeOut(BaseModel):
    name: str
    #: None: only its executors name it; `flowhost runtimes add` creates it.
    created_at: str | None = None
    users: int = 0
    labels: dict[str, str] = {}
    ready_executors: int
    services: list[ServiceOut]
    admission: AdmissionOut = AdmissionOut()


class StatusOut(BaseModel):
    runtimes: list[RuntimeOut]
    executors: list[ExecutorOut]


@router.get("/api/executors", response_model=list[ExecutorOut], summary="Executors and readiness")
async def executors(control: Control) -> list[ExecutorOut]:
    return [
        ExecutorOut(
            address=s.address,
            runtime=s.runtime,
            executor_id=s.executor_id,
            ready=s.ready,
            deployments=list(s.deployments),
            outstanding=s.outstanding,
            problem=s.problem,
            connected_since=None
            if s.connected_at is None
            else datetime.fromtimestamp(s.connected_at, UTC).isoformat(),
            stream=s.carrier,
        )
        for s in control.reconciler.statuses()
    ]


@router.get("/api/runtimes", response_model=list[RuntimeOut], summary="Runtimes and services")
async def runtimes(request: Request, control: Control) -> list[RuntimeOut]:
    records = {r.name: r for r in await control.call(control.store.runtime_records)}
    labels = await control.call(control.labels.all)
    flow = running(request).flow
    counts = flow.metrics.by_version()
    admitted = flow.admission.counts()
    statuses = control.reconciler.statuses()
    return [
        RuntimeOut(
            name=name,
            created_at=records[name].created_at.isoformat() if name in records else None,
            users=records[name].users if name in records else 0,
            labels=labels.get(name, {}),
            ready_executors=sum(1 for s in statuses if s.runtime == name and s.ready),
            services=[
                ServiceOut(
                    path=s.spec.service_path,
                    package=s.spec.name,
                    version=s.spec.version,
                    actions=[a.name for a in s.spec.actions],
                    versions=_traffic(control, s, counts),
                )
                for s in control.registry.services(name)
            ],
            admission=AdmissionOut(
                in_flight=a.running, queued=a.queued, detached=a.detached, refused=a.refused
            )
            if (a := admitted.get(name))
            else AdmissionOut(),
        )
        for name in await runtime_names(control)
    ]


async def runtime_names(control: ControlPlane) -> list[str]:
    """Every runtime: those the store knows (users, deployments) and those executors join."""
    names = set(await control.call(control.store.runtimes))
    names |= {s.runtime for s in control.reconciler.statuses() if s.runtime}
    return sorted(names)


@router.get("/api/status", response_model=StatusOut, summary="Runtimes and executors at once")
async def status(request: Request, control: Control) -> StatusOut:
    return StatusOut(runtimes=await runtimes(request, control), executors=await executors(control))


def _traffic(
    control: ControlPlane,
    active: DeployedService,
    counts: dict[tuple[str, str, str], tuple[int, int]],
) -> list[VersionTraffic]:
    """The versions of a service with this gateway's counts: the active one, its canary, and
    those kept for owed WAITs (`ServiceRegistry`)."""
    runtime, path = active.runtime, active.spec.service_path
    canary = control.registry.canary(runtime, path)
    roles = [(active, "active", 100 - (canary.percent if canary else 0))]
    if canary is not None:
        roles.append((canary.service, "canary", canary.percent))
    roles += [
        (kept, "kept", 0)
        for kept in control.registry.retained(runtime)
        if kept.spec.service_path == path
    ]
    out = []
    for service, role, percent in roles:
        requests, errors = counts.get((runtime, path, service.spec.version), (0, 0))
        out.append(VersionTraffic(
            version=service.spec.version, role=role, percent=percent, requests=requests,
            errors=errors,
        ))  # fmt: skip
    return out
