"""How many messages a consumer may run now (the trigger's `concurrency`): the fetcher waits for
a free slot, so a busy gateway leaves messages in the broker for the others."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["Slots"]


class Slots:
    def __init__(self, size: int) -> None:
        self.free = size
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def wait_free(self) -> int:
        while self.free <= 0:
            self._changed.clear()
            await self._changed.wait()
        return self.free

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        self.free -= 1
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.free += 1
        self._changed.set()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
