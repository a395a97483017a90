"""jq outside the Python subset runs in a worker process: a runaway program meets its deadline,
its worker is killed and replaced, and a program's outputs are bounded while it runs."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from executors.runtime.errors import StepError
from executors.runtime.jqworkers import JqOutputLimit, JqRuntimeError, JqWorkers
from executors.testing import run_process, values

from .helpers import process

BIG = 1 << 30


@pytest.fixture
async def workers() -> JqWorkers:
    pool = JqWorkers(size=2, memory_mb=512)
    yield pool  # type: ignore[misc]
    await pool.aclose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie counts as gone
        return stat.read().split()[2] != "Z"


async def test_a_worker_answers_jq_outputs(workers: JqWorkers) -> None:
    assert await workers.run(".[] * 2", "[1, 2.5]", 10, BIG, BIG) == [2, 5.0]


async def test_a_worker_reports_jqs_runtime_error(workers: JqWorkers) -> None:
    with pytest.raises(JqRuntimeError, match="cannot be multiplied"):
        await workers.run(".a * .b", '{"a": [1], "b": 2}', 10, BIG, BIG)


@pytest.mark.parametrize("program", ["last(range(1e12))", "def f: f; f"])
async def test_a_runaway_program_is_stopped_at_the_deadline_and_its_worker_replaced(
    workers: JqWorkers, program: str
) -> None:
    await workers.start()
    (first,) = workers._idle
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await workers.run(program, "null", 10, BIG, BIG)
    assert time.monotonic() - start < 1.0
    assert workers.killed == 1
    for _ in range(100):  # reaped in the background, within moments
        if not _alive(first.process.pid):
            break
        await asyncio.sleep(0.02)
    assert not _alive(first.process.pid)
    # The next program is answered (by the spare started in its place).
    assert await workers.run(". + 1", "1", 1, BIG, BIG) == [2]


async def test_outputs_are_counted_while_the_program_runs(workers: JqWorkers) -> None:
    start = time.monotonic()
    with pytest.raises(JqOutputLimit) as over:
        await workers.run("range(1e12)", "null", 1000, BIG, BIG)
    assert over.value.what == "outputs"
    assert time.monotonic() - start < 2
    with pytest.raises(JqOutputLimit) as over:
        await workers.run('"x" * 1000', "null", 10, 100, BIG)
    assert over.value.what == "output_bytes"
    with pytest.raises(JqOutputLimit) as over:
        await workers.run("range(1000) | tostring", "null", 10_000, 100, 1000)
    assert over.value.what == "total_bytes"


async def test_a_program_over_the_workers_memory_fails_that_call_only() -> None:
    pool = JqWorkers(size=1, memory_mb=150)
    try:
        with pytest.raises(StepError) as failed:
            async with asyncio.timeout(30):
                await pool.run("[range(1e9)] | length", "null", 1, BIG, BIG)
        assert failed.value.code == "limit_exceeded"
        assert "150 MB" in failed.value.message
        assert await pool.run(". + 1", "1", 1, BIG, BIG) == [2]
    finally:
        await pool.aclose()


async def test_a_process_with_a_runaway_jq_map_ends_at_its_deadline() -> None:
    source = process("- map: 'last(range(1e12))'\n- return: {}")
    start = time.monotonic()
    result = await run_process(source, "p", [{}], timeout_s=1.0)
    assert time.monotonic() - start < 2
    assert result.status == "deadline" and result.error is not None
    assert result.error.code == "deadline_exceeded"
    assert "while running the map step" in result.error.message
    # The executor's pool still answers the next execution.
    result = await run_process(process("- map: '[.[] | . * 2]'\n- return: {}"), "p", [[1, 2]])
    assert values(result) == [[2, 4]]


async def test_a_split_past_its_fanout_fails_fast_with_the_limit_named() -> None:
    source = process("- split: 'range(.n)'\n- return: {}")
    start = time.monotonic()
    result = await run_process(source, "p", [{"n": 1_000_000}], timeout_s=3.0)
    assert time.monotonic() - start < 2
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "limit_exceeded"
    assert "split_fanout (10,000)" in result.error.message
    assert "'range(.n)'" in result.error.message
    # Under the limit it works as before.
    result = await run_process(source, "p", [{"n": 3}])
    assert values(result) == [0, 1, 2]


async def test_a_map_past_documents_per_step_fails_with_the_limit_named() -> None:
    source = process("- map: 'range(.n)'\n- return: {}")
    result = await run_process(source, "p", [{"n": 6000}, {"n": 6000}])
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "limit_exceeded"
    assert "documents_per_step (10,000)" in result.error.message
