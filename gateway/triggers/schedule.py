"""Schedule triggers: fire each due time once across every gateway sharing the store.

Due times are the same on every gateway: an interval's are the multiples of it since the epoch,
a cron expression's come from croniter in the trigger's time zone. At each tick (every
FLOWHOST_SCHEDULE_TICK_S) a gateway whose clock passed a due time tries to take it in the store
(`fires.py`); the one that takes it runs the process. A due time is skipped, not claimed, while
the previous fire of the same trigger still runs on this gateway (so a slow process never piles
up executions); another gateway may take it. A paused trigger does not fire, nor does one
whose runtime has no ready executor hosting its version (nothing is claimed then).

After downtime (the first look at a trigger, at start or when a version with it is deployed):
`missed: skip` starts from the next due time; `missed: once` first runs the latest due time
missed since the last fire, if there is one (never more than one), then goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from croniter import croniter

from gateway.errors import GatewayError
from gateway.lifecycle import Lifecycle
from gateway.periodic import Periodic
from gateway.services import DeployedService, ServiceRegistry
from gateway.spec import ScheduleSpec, TriggerSpec
from gateway.triggers.fires import FireStore, Key
from gateway.triggers.run import TriggerRunner

__all__ = ["Scheduler", "due_after", "latest_due"]

log = logging.getLogger("flowhost.gateway")

PRUNE_S = 3600.0
T = TypeVar("T")


def due_after(spec: ScheduleSpec, after_ms: int) -> int:
    """The first due time strictly after `after_ms` (ms since the epoch)."""
    if spec.every_ms:
        return (after_ms // spec.every_ms + 1) * spec.every_ms
    start = datetime.fromtimestamp(after_ms / 1000, ZoneInfo(spec.timezone))
    return round(float(croniter(spec.cron, start).get_next(float)) * 1000)


def latest_due(spec: ScheduleSpec, now_ms: int) -> int:
    """The last due time at or before `now_ms`."""
    if spec.every_ms:
        return now_ms // spec.every_ms * spec.every_ms
    start = datetime.fromtimestamp((now_ms + 1) / 1000, ZoneInfo(spec.timezone))
    return round(float(croniter(spec.cron, start).get_prev(float)) * 1000)


class _Planned:
    __slots__ = ("next_ms", "running", "spec")

    def __init__(self, spec: ScheduleSpec, next_ms: int) -> None:
        self.spec = spec
        self.next_ms = next_ms
        self.running: asyncio.Task[None] | None = None


class Scheduler(Lifecycle):
    def __init__(
        self, registry: ServiceRegistry, runner: TriggerRunner, fires: FireStore, tick_s: float
    ) -> None:
        self._registry = registry
        self._runner = runner
        self._fires = fires
        self._planned: dict[Key, _Planned] = {}
        self._ticker = Periodic("schedule triggers", self._tick, tick_s)
        self._pruner = Periodic("schedule leases pruner", self._prune, PRUNE_S, delay_first=True)
        self._db_calls: set[asyncio.Task[Any]] = set()
        #: Due times this gateway took, and those another gateway took first (for status).
        self.fired = 0
        self.lost = 0

    async def start(self) -> None:
        self._ticker.start()
        self._pruner.start()

    async def stop(self) -> None:
        await self._ticker.stop()
        await self._pruner.stop()
        for planned in self._planned.values():
            if planned.running is not None:
                planned.running.cancel()
        if self._db_calls:  # a claim's thread still runs: let it finish before the store closes
            await asyncio.wait(self._db_calls)

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        """A blocking store call in a thread, finished even when the caller is cancelled."""
        task = asyncio.ensure_future(asyncio.to_thread(call, *args))
        self._db_calls.add(task)
        task.add_done_callback(self._db_calls.discard)
        return await asyncio.shield(task)

    def next_due(self, key: Key) -> float | None:
        """Epoch seconds of the trigger's next due time as this gateway plans it."""
        planned = self._planned.get(key)
        return planned.next_ms / 1000 if planned is not None else None

    async def _tick(self) -> None:
        now_ms = int(time.time() * 1000)
        seen: set[Key] = set()
        for service in self._registry.every_service():
            for trigger in service.spec.triggers:
                if trigger.schedule is None:
                    continue
                key = (service.runtime, service.spec.name, trigger.name)
                seen.add(key)
                planned = self._planned.get(key)
                if not self._runner.ready(service):
                    continue  # planned (missed fires looked for) once it can run
                if planned is None or planned.spec != trigger.schedule:
                    planned = await self._plan(key, service, trigger, trigger.schedule, now_ms)
                if planned.next_ms <= now_ms:
                    self._due(key, service, trigger, planned, now_ms)
        for gone in set(self._planned) - seen:
            del self._planned[gone]

    async def _plan(
        self,
        key: Key,
        service: DeployedService,
        trigger: TriggerSpec,
        spec: ScheduleSpec,
        now_ms: int,
    ) -> _Planned:
        planned = self._planned[key] = _Planned(spec, due_after(spec, now_ms))
        if spec.missed == "once":
            last = await self._db(self._fires.last_due_ms, key)
            missed = latest_due(spec, now_ms)
            if last is not None and missed > last:
                log.info("schedule %s/%s: running the missed fire due at %d", *key[1:], missed)
                self._due(key, service, trigger, planned, now_ms, missed)
        return planned

    def _due(
        self,
        key: Key,
        service: DeployedService,
        trigger: TriggerSpec,
        planned: _Planned,
        now_ms: int,
        due_ms: int | None = None,
    ) -> None:
        due_ms = planned.next_ms if due_ms is None else due_ms
        planned.next_ms = due_after(planned.spec, now_ms)
        if self._runner.listener(service, trigger).pause is not None:
            return
        if planned.running is not None and not planned.running.done():
            log.warning(
                "schedule %s/%s: the fire due at %d is skipped, the previous one still runs",
                *key[1:],
                due_ms,
            )
            return
        planned.running = asyncio.create_task(self._fire(key, service, trigger, due_ms))

    async def _fire(
        self, key: Key, service: DeployedService, trigger: TriggerSpec, due_ms: int
    ) -> None:
        due = datetime.fromtimestamp(due_ms / 1000, UTC).isoformat()
        document = orjson.dumps({"trigger": trigger.name, "due": due})
        try:
            execution = self._runner.execution(service, trigger, document, {"due": due})
        except GatewayError as error:  # e.g. a required configuration value is not set
            log.warning("schedule %s/%s cannot fire: %s", *key[1:], error.message)
            return
        if not await self._db(self._fires.claim, key, due_ms, execution.execution_id):
            self.lost += 1
            return
        self.fired += 1
        try:
            fired = await self._runner.run(service, trigger, execution)
        except GatewayError as error:
            log.warning("schedule %s/%s due at %s: %s", *key[1:], due, error.message)
            return
        if fired.result.status != "ok":
            log.warning(
                "schedule %s/%s due at %s: execution %s %s",
                *key[1:],
                due,
                fired.execution_id,
                fired.result.status,
            )

    async def _prune(self) -> None:
        await self._db(self._fires.prune, time.time())
