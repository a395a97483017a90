"""The background-loop helper: passes on time and when woken, a crash logged and survived."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

import pytest

from gateway.periodic import Periodic


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - polls a plain counter
            await asyncio.sleep(0.005)


async def test_passes_repeat_at_the_interval() -> None:
    passes: list[float] = []

    async def work() -> None:
        passes.append(asyncio.get_running_loop().time())

    async with Periodic("ticker", work, 0.05):
        await asyncio.sleep(0.3)
    assert len(passes) >= 2
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(passes))


async def test_wake_runs_a_pass_at_once() -> None:
    passes = 0

    async def work() -> None:
        nonlocal passes
        passes += 1

    async with Periodic("sleeper", work, 60.0) as loop:
        await _until(lambda: passes == 1)  # the first pass runs at start
        loop.wake()
        await _until(lambda: passes == 2)  # not in 60 s: at once


async def test_a_wake_during_a_pass_means_one_more_pass() -> None:
    passes = 0
    release = asyncio.Event()

    async def work() -> None:
        nonlocal passes
        passes += 1
        if passes == 1:
            await release.wait()

    async with Periodic("busy", work, 60.0) as loop:
        await asyncio.sleep(0.01)
        loop.wake()  # arrives while the first pass still runs
        release.set()
        await _until(lambda: passes == 2)


async def test_delay_first_waits_one_interval() -> None:
    passes = 0

    async def work() -> None:
        nonlocal passes
        passes += 1

    async with Periodic("late", work, 0.1, delay_first=True):
        await asyncio.sleep(0.05)
        assert passes == 0
        await asyncio.sleep(0.1)
        assert passes == 1


async def test_a_crashing_pass_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    passes = 0

    async def work() -> None:
        nonlocal passes
        passes += 1
        if passes == 1:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="flowhost.gateway"):
        async with Periodic("fragile", work, 0.02) as loop:
            await _until(lambda: passes >= 3)
            assert loop.running
    assert "fragile: a pass failed" in caplog.text
    assert "boom" in caplog.text


async def test_stop_cancels_a_pass_in_progress_and_is_idempotent() -> None:
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    loop = Periodic("long", work, 1.0)
    loop.start()
    await asyncio.sleep(0.01)
    await loop.stop()
    await loop.stop()
    assert cancelled.is_set()
    assert not loop.running
