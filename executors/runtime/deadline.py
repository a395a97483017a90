"""An execution's deadline: what `asyncio.timeout` does, for the one block every execution runs.

Measured on Python 3.11 with uvloop: an `asyncio.timeout` block costs ~3.3 µs (a Timeout object,
three `get_running_loop` calls, `current_task`, its state kept in Python), a fifth of the quote
process's whole run in the engine (~15 µs, scripts/engine_ab.py). This keeps one timer of the
loop's and two attributes: see docs/benchmark.md for its before/after.

Semantics are asyncio.timeout's: at the deadline the task is cancelled; the CancelledError that
reaches the block is the deadline's only when no other cancel came too (`Task.cancelling`), and
then the cancel is taken back (`Task.uncancel`) so the task carries on to report it.
"""

from __future__ import annotations

import asyncio


class Deadline:
    __slots__ = ("_cancelling", "_expired", "_handle", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a Deadline runs inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._handle = loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def passed(self) -> bool:
        """For a CancelledError that reached the block: whether it is the deadline's alone
        (the cancel is then taken back); if not, it must propagate."""
        if not self._expired:
            return False
        self._expired = False  # taken back once
        return self._task.uncancel() <= self._cancelling

    def end(self) -> None:
        """The block is left: no deadline any more (an expiry nobody saw is taken back)."""
        self._handle.cancel()
        if self._expired:
            self._expired = False
            self._task.uncancel()
