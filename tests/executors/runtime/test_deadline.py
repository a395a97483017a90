"""An execution's deadline (executors/runtime/deadline.py) keeps asyncio.timeout's semantics:
the deadline's own cancel becomes a timeout and is taken back; any other cancel propagates."""

from __future__ import annotations

import asyncio

import pytest

from executors.runtime.deadline import Deadline


async def _guarded(seconds: float, work: float) -> str:
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop, loop.time() + seconds)
    try:
        try:
            await asyncio.sleep(work)
        except asyncio.CancelledError:
            if not deadline.passed():
                raise
            return "deadline"
    finally:
        deadline.end()
    return "done"


async def test_work_past_the_deadline_ends_as_a_deadline_and_the_task_carries_on() -> None:
    async def run() -> tuple[str, int, str]:
        outcome = await _guarded(0.01, 5)
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # not cancelled any more: it can still wait
        return outcome, task.cancelling(), await _guarded(1, 0)

    assert await asyncio.wait_for(run(), 2) == ("deadline", 0, "done")


async def test_work_within_the_deadline_is_left_alone_and_no_timer_fires_later() -> None:
    async def run() -> str:
        outcome = await _guarded(0.05, 0)
        await asyncio.sleep(0.1)  # past the deadline it had: nothing cancels this
        return outcome

    assert await run() == "done"


async def test_a_cancel_from_outside_propagates() -> None:
    task = asyncio.create_task(_guarded(5, 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancel_from_outside_at_the_deadline_propagates_too() -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(_guarded(0.02, 5))
    loop.call_later(0.02, task.cancel)  # the gateway's cancel, in the same loop turn
    with pytest.raises(asyncio.CancelledError):
        await task
