"""One small helper for the gateway's background loops: run a pass now and then, or sooner when
woken; log a pass that crashes and go on; stop cleanly.

Every loop of the gateway (reconciling executors, polling the store, delivering callbacks,
following waiting executions, writing and pruning history) is one `Periodic`, so they all start,
wake and stop the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

log = logging.getLogger("flowhost.gateway")


class Periodic:
    """Runs `work` every `interval_s` (the first pass at once unless `delay_first`), and again
    as soon as `wake()` is called; a wake while a pass runs means one more pass right after."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        interval_s: float,
        *,
        delay_first: bool = False,
    ) -> None:
        self.name = name
        self._work = work
        self._interval_s = interval_s
        self._delay_first = delay_first
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop (a pass in progress included) and wait for it. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        if self._delay_first:
            await self._sleep()
        while True:
            self._wake.clear()
            try:
                await self._work()
            except Exception:
                log.exception("%s: a pass failed; the next one runs as planned", self.name)
            await self._sleep()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._interval_s)

    async def __aenter__(self) -> Periodic:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
