"""Kept results of detached executions, and the progress step's sink."""

from __future__ import annotations

import asyncio

from executors.results import KeptResults
from executors.runtime.engine import ProcessResult
from executors.runtime.progress import progress_sink, report_progress


def test_results_are_kept_until_acknowledged_and_bounded() -> None:
    async def scenario() -> None:
        kept = KeptResults(max_results=2, ttl_s=3600)
        task = asyncio.create_task(asyncio.sleep(0, ProcessResult("ok")))
        kept.running("a", task)
        assert kept.state("a") == ("running", None)
        await task
        kept.keep("a", task.result())
        assert kept.state("a")[0] == "done"
        kept.keep("b", ProcessResult("ok"))
        kept.keep("c", ProcessResult("failed"))  # over the bound: the oldest goes
        assert kept.state("a") == ("unknown", None)
        kept.ack("b")
        assert kept.state("b") == ("unknown", None)
        assert len(kept) == 1
        kept.running("d", task)
        kept.finished("d")  # went to a live stream: nothing kept
        assert kept.state("d") == ("unknown", None)

    asyncio.run(scenario())


def test_expired_results_are_dropped() -> None:
    kept = KeptResults(max_results=10, ttl_s=0)
    kept.keep("a", ProcessResult("ok"))
    kept.keep("b", ProcessResult("ok"))
    assert kept.state("a")[0] == "unknown"


def test_progress_goes_to_the_sink_of_the_running_context() -> None:
    heard: list[str] = []
    assert report_progress("nobody") is False
    token = progress_sink.set(heard.append)
    try:
        assert report_progress("half way") is True
    finally:
        progress_sink.reset(token)
    assert heard == ["half way"]
