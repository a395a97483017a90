"""Results of detached executions, kept until the gateway has taken them.

A detachable execution is one the gateway may stop waiting for (it answered Flow WAIT). Its
result is kept here when the gateway asked to detach it or when the stream that started it has
gone (the gateway restarted), until the gateway acknowledges it stored the result durably. The
map is bounded by count and age, so a gateway that never comes back cannot grow it without end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Literal

from executors.runtime.engine import ProcessResult

log = logging.getLogger("flowhost.executor")

State = Literal["done", "running", "unknown"]


class KeptResults:
    def __init__(self, max_results: int = 10_000, ttl_s: float = 24 * 3600.0) -> None:
        self._max = max_results
        self._ttl_s = ttl_s
        self._done: OrderedDict[str, tuple[float, ProcessResult]] = OrderedDict()
        self._running: dict[str, asyncio.Task[ProcessResult]] = {}

    def running(self, execution_id: str, task: asyncio.Task[ProcessResult]) -> None:
        """A detachable execution started."""
        self._running[execution_id] = task

    def finished(self, execution_id: str) -> None:
        """A detachable execution ended and its result went to a live stream: nothing to keep."""
        self._running.pop(execution_id, None)

    def keep(self, execution_id: str, result: ProcessResult) -> None:
        """A detached execution ended: keep its result until `ack`."""
        self._running.pop(execution_id, None)
        now = time.monotonic()
        self._done[execution_id] = (now, result)
        self._done.move_to_end(execution_id)
        while self._done:
            oldest_id, (kept_at, _) = next(iter(self._done.items()))
            if len(self._done) <= self._max and now - kept_at <= self._ttl_s:
                break
            del self._done[oldest_id]
            log.warning("dropped the unacknowledged result of execution %s", oldest_id)

    @property
    def count(self) -> int:
        """Results kept for a gateway to take."""
        return len(self._done)

    def state(self, execution_id: str) -> tuple[State, ProcessResult | None]:
        kept = self._done.get(execution_id)
        if kept is not None:
            return "done", kept[1]
        if execution_id in self._running:
            return "running", None
        return "unknown", None

    def ack(self, execution_id: str) -> None:
        self._done.pop(execution_id, None)

    def __len__(self) -> int:
        return len(self._done)
