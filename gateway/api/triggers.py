"""Triggers (gateway/triggers/): every trigger of every deployed package, with its state.

What `flowhost status` shows under each runtime: kind, process, active or paused (a trigger
is paused as a listener, `<service path>#<trigger>`), how often this gateway fired it and when
last, a schedule's next due time, and a subscription's connection problem if it has one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from gateway.api.deps import Control, running
from gateway.running import Gateway
from gateway.services import DeployedService
from gateway.spec import TriggerSpec
from gateway.triggers.run import listener_path
from gateway.triggers.schedule import due_after

router = APIRouter(tags=["triggers"])


class TriggerOut(BaseModel):
    runtime: str
    package: str
    version: str
    name: str
    kind: str = Field(description="webhook | schedule | subscribe")
    process: str
    listener: str = Field(description="What `flowhost listeners pause --service` takes.")
    state: str = Field(description="active | paused")
    what: str = Field(description="The webhook's path, the schedule, or the subscription.")
    fired: int = Field(description="Executions this gateway started since it started.")
    errors: int = Field(description="Of those, not ok (or no executor could take them).")
    refused: int = Field(description="Webhook calls answered 503 while paused.")
    last_fired_at: datetime | None = Field(description="On this gateway.")
    next_due_at: datetime | None = Field(None, description="Schedules: the next due time.")
    problem: str = Field("", description="Subscriptions: why it is not consuming now.")


def _what(service: DeployedService, trigger: TriggerSpec) -> str:
    if trigger.webhook is not None:
        return f"POST /hooks/{service.runtime}/{service.spec.name}/{trigger.name}"
    if trigger.schedule is not None:
        s = trigger.schedule
        every = f"every {s.every_ms / 1000:g}s" if s.every_ms else f"cron {s.cron!r}"
        return f"{every} ({s.timezone}), missed: {s.missed}"
    assert trigger.subscribe is not None
    b = trigger.subscribe
    stream = f" (stream {b.stream})" if b.stream else ""
    return f"{b.topic or b.subject}{stream} on configuration value {b.broker!r}"


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _next_due(gateway: Gateway, key: tuple[str, str, str], trigger: TriggerSpec) -> datetime | None:
    """As this gateway plans it; before it has (executors still deploying), the schedule's."""
    if trigger.schedule is None:
        return None
    planned = gateway.scheduler.next_due(key)
    if planned is None:
        planned = due_after(trigger.schedule, int(time.time() * 1000)) / 1000
    return _time(planned)


def _out(gateway: Gateway, service: DeployedService, trigger: TriggerSpec) -> TriggerOut:
    runner = gateway.triggers
    listener = runner.listener(service, trigger)
    key = (service.runtime, service.spec.name, trigger.name)
    path = listener_path(service, trigger)
    return TriggerOut(
        runtime=service.runtime,
        package=service.spec.name,
        version=service.spec.version,
        name=trigger.name,
        kind=trigger.kind,
        process=trigger.process,
        listener=path,
        state="paused" if listener.pause is not None else "active",
        what=_what(service, trigger),
        fired=listener.requests - listener.refused,
        errors=listener.errors,
        refused=listener.refused,
        last_fired_at=_time(runner.last_fired.get((service.runtime, path))),
        next_due_at=_next_due(gateway, key, trigger),
        problem=gateway.subscriptions.problem(key) if trigger.subscribe else "",
    )


@router.get(
    "/api/triggers",
    response_model=list[TriggerOut],
    summary="Every trigger of the deployed packages, with its state and this gateway's counts",
    responses={404: {"description": "No such runtime"}},
)
async def list_triggers(
    control: Control, gateway: Gateway = Depends(running), runtime: str | None = None
) -> list[TriggerOut]:
    if runtime is not None:
        await control.known_runtime(runtime)
    services = (
        control.registry.services(runtime)
        if runtime is not None
        else control.registry.every_service()
    )
    return [
        _out(gateway, service, trigger)
        for service in sorted(services, key=lambda s: (s.runtime, s.spec.name))
        for trigger in service.spec.triggers
    ]


__all__ = ["router"]
