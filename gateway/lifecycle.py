"""One way for every part of the gateway to start and stop: `async with part:`.

A part (the store, the executor pool, the control plane, the reconciler, the history writer
process, the history, the callback sender, the waiting executions) says how it starts and how it
stops; entering it starts it, leaving it stops it, whatever happened inside. `gateway/running.py`
enters them all on one `AsyncExitStack` in dependency order, so a part that fails to start
stops every part started before it, in reverse, and a part that fails to stop does not keep the
others from stopping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Lifecycle(ABC):
    """`start()` on entry, `stop()` on exit (also when the body raised)."""

    @abstractmethod
    async def start(self) -> None:
        """Begin: open what the part holds, start its background loop."""

    @abstractmethod
    async def stop(self) -> None:
        """End: stop its loop, finish or release its work, close what it holds. Safe to call
        twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
