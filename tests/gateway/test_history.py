"""Execution history on real SQLite and PostgreSQL: batched writes off the request path,
queries, documents within their budget, and retention."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from executors.runtime.context import StepTrace
from executors.translate import trace_json
from gateway.history import COLUMNS, History, HistoryStore, Summary, to_row
from gateway.store import Store
from gateway.translate import ExecutionError, ExecutionResult


def _summary(i: int, status: str = "ok", started: float | None = None) -> Summary:
    error = (
        ExecutionError("step_failed", "boom", "processes.p.steps[1]") if status != "ok" else None
    )
    # Encoded by the executor's own encoder: the format both sides share.
    trace, recorded = trace_json(
        [StepTrace("processes.p.steps[0]", "map", 12, 1, 1, "", [b'{"a":1}'], [b'{"b":2}'])]
    )
    return Summary(
        f"x-{i}",
        "default",
        "shop",
        "1.0.0",
        "quote" if i % 2 else "order",
        "quote",
        "127.0.0.1:50051",
        started if started is not None else time.time(),
        1.5,
        "FORWARD",
        ExecutionResult(status, [], error=error, trace=trace, recorded=recorded),
    )


@pytest.fixture
def history_store(store: Store) -> HistoryStore:
    return HistoryStore(store.engine)


def test_summaries_are_written_in_batches_by_the_background_task(
    history_store: HistoryStore,
) -> None:
    async def scenario() -> None:
        history = History(history_store, flush_interval_s=0.05, batch=100)
        history.start()
        try:
            for i in range(250):
                history.record(_summary(i))
            assert history_store.count() == 0  # record() never touches the database
            for _ in range(100):
                if history_store.count() == 250:
                    break
                await asyncio.sleep(0.02)
            assert history_store.count() == 250
        finally:
            await history.stop()

    asyncio.run(scenario())


def test_a_full_queue_drops_the_oldest_and_never_blocks(history_store: HistoryStore) -> None:
    history = History(history_store, batch=10, queue_max=20)
    for i in range(50):
        history.record(_summary(i))
    assert history.dropped == 30
    asyncio.run(history.flush())
    assert history_store.count() == 20


def test_disabled_history_records_nothing(history_store: HistoryStore) -> None:
    history = History(history_store, enabled=False)
    history.record(_summary(1))
    asyncio.run(history.flush())
    assert history_store.count() == 0


def test_queries_filter_and_show_the_trace(history_store: HistoryStore) -> None:
    now = time.time()
    rows = [to_row(_summary(i, "failed" if i == 3 else "ok", now - i), 1024) for i in range(6)]
    history_store.insert_many(rows)
    assert [r["id"] for r in history_store.list(status="failed")] == ["x-3"]
    assert {r["process"] for r in history_store.list(process="quote")} == {"quote"}
    assert [r["id"] for r in history_store.list(since=now - 1.5)] == ["x-0", "x-1"]
    shown = history_store.get("x-3")
    assert shown is not None
    assert (shown["failing_step"], shown["error"]) == ("processes.p.steps[1]", "boom")
    step = shown["trace"][0]
    assert step["inputs"] == [{"text": '{"a":1}', "size": 7, "truncated": False}]
    assert history_store.get("nope") is None


def test_recorded_documents_stay_within_the_budget() -> None:
    row = dict(zip(COLUMNS, to_row(_summary(1), document_max_bytes=10), strict=True))
    assert row["recorded"] == 1
    (step,) = orjson.loads(row["trace"])
    # 10 bytes in all: the input (7) whole, then 3 of the output.
    assert step["inputs"] == [{"text": '{"a":1}', "size": 7, "truncated": False}]
    assert step["outputs"] == [{"text": '{"b', "size": 7, "truncated": True}]


def test_traces_without_documents_read_back_in_full(history_store: HistoryStore) -> None:
    trace, recorded = trace_json([StepTrace("p.steps[0]", "map", 7, 1, 1)])
    assert not recorded
    summary = _summary(1)._replace(result=ExecutionResult("ok", [], trace=trace))
    history_store.insert_many([to_row(summary, 0)])
    shown = history_store.get("x-1")
    assert shown is not None and shown["recorded"] == 0
    assert shown["trace"] == [
        {
            "path": "p.steps[0]",
            "type": "map",
            "duration_us": 7,
            "documents_in": 1,
            "documents_out": 1,
            "error": "",
        }
    ]


def test_retention_by_age_and_count(history_store: HistoryStore) -> None:
    now = time.time()
    history_store.insert_many([to_row(_summary(i, started=now - i * 3600), 0) for i in range(10)])
    assert history_store.prune(older_than=now - 5.5 * 3600, keep=100) == 4  # 6..9 h old
    assert history_store.prune(older_than=0, keep=3) == 3
    assert [r["id"] for r in history_store.list()] == ["x-0", "x-1", "x-2"]
