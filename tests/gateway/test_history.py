"""Execution history on real SQLite and PostgreSQL: batched writes off the request path,
queries, documents within their budget, and retention."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import replace

import orjson
import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect

from executors.runtime.context import StepTrace
from executors.translate import trace_json
from gateway.execution_ids import ExecutionIds, issued_at
from gateway.history.record import History, Summary, to_row
from gateway.history.store import COLUMNS, ExecutionDetail, ExecutionSummary, HistoryStore
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
        ("default", "shop", "1.0.0", "quote" if i % 2 else "order", "quote"),
        "127.0.0.1:50051",
        started if started is not None else time.time(),
        "FORWARD",
        ExecutionResult(status, [], error=error, trace=trace, recorded=recorded, duration_us=1500),
    )


@pytest.fixture
def history_store(store: Store) -> HistoryStore:
    return HistoryStore(store.engine)


def test_summaries_are_written_in_batches_by_the_background_task(
    history_store: HistoryStore,
) -> None:
    async def scenario() -> None:
        history = History(history_store, flush_interval_s=0.05, batch=100)
        await history.start()
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
    assert [r.id for r in history_store.list(status="failed")] == ["x-3"]
    assert {r.process for r in history_store.list(process="quote")} == {"quote"}
    assert [r.id for r in history_store.list(since=now - 1.5)] == ["x-0", "x-1"]
    shown = history_store.get("x-3")
    assert shown is not None
    assert (shown.failing_step, shown.error) == ("processes.p.steps[1]", "boom")
    step = shown.trace[0]
    assert step["inputs"] == [{"text": '{"a":1}', "size": 7, "truncated": False}]
    assert history_store.get("nope") is None


def test_recorded_documents_stay_within_the_budget() -> None:
    row = dict(zip(COLUMNS, to_row(_summary(1), document_max_bytes=10), strict=True))
    assert row["recorded"] == 1
    (step,) = orjson.loads(orjson.dumps(row["trace"]))  # the JSON it is stored as
    # 10 bytes in all: the input (7) whole, then 3 of the output.
    assert step["inputs"] == [{"text": '{"a":1}', "size": 7, "truncated": False}]
    assert step["outputs"] == [{"text": '{"b', "size": 7, "truncated": True}]


def test_traces_without_documents_read_back_in_full(history_store: HistoryStore) -> None:
    trace, recorded = trace_json([StepTrace("p.steps[0]", "map", 7, 1, 1)])
    assert not recorded
    summary = _summary(1)._replace(result=ExecutionResult("ok", [], trace=trace))
    history_store.insert_many([to_row(summary, 0)])
    shown = history_store.get("x-1")
    assert shown is not None and shown.recorded is False
    assert shown.trace == [
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
    for i in range(10):  # a block each, as a quiet gateway writes them
        history_store.insert_many([to_row(_summary(i, started=now - i * 3600), 0)])
    assert history_store.prune(older_than=now - 5.5 * 3600, keep=100) == 4  # 6..9 h old
    assert history_store.prune(older_than=0, keep=3) == 3
    assert [r.id for r in history_store.list()] == ["x-0", "x-1", "x-2"]


def _at(i: int, started: float, status: str = "ok") -> tuple[object, ...]:
    return to_row(_summary(i, status, started), 0)


def test_listing_is_newest_first_across_blocks_that_overlap_in_time(
    history_store: HistoryStore,
) -> None:
    now = time.time()
    history_store.insert_many([_at(1, now - 10), _at(2, now - 1)])
    # Written later, started in between: e.g. an execution that answered WAIT and ended later.
    history_store.insert_many([_at(3, now - 5), _at(4, now - 3)])
    history_store.insert_many([_at(5, now - 2, "failed")])
    assert [r.id for r in history_store.list()] == ["x-2", "x-5", "x-4", "x-3", "x-1"]
    assert [r.id for r in history_store.list(limit=3)] == ["x-2", "x-5", "x-4"]
    assert [r.id for r in history_store.list(since=now - 4)] == ["x-2", "x-5", "x-4"]
    assert [r.id for r in history_store.list(status="ok", limit=2)] == ["x-2", "x-4"]
    assert [r.id for r in history_store.list(status="failed")] == ["x-5"]
    assert history_store.count() == 5


def test_an_execution_is_found_by_the_id_the_gateway_gave_it(history_store: HistoryStore) -> None:
    new_id = ExecutionIds()
    ids: list[str] = []
    for _ in range(20):  # 20 blocks of 25
        rows = []
        for _ in range(25):
            ids.append(new_id())
            rows.append(to_row(_summary(0)._replace(execution_id=ids[-1]), 0))
        history_store.insert_many(rows)
    for wanted in (ids[0], ids[261], ids[-1]):
        shown = history_store.get(wanted)
        assert shown is not None and shown.id == wanted
    assert history_store.get(new_id()) is None  # well formed, never recorded
    assert history_store.get(ids[7][:-1]) is None  # a prefix of a real id is not that id


def test_ids_sort_by_time_and_carry_it() -> None:
    new_id = ExecutionIds()
    before = time.time()
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    at = issued_at(first)
    assert at is not None and before - 0.001 <= at <= time.time()
    assert first < second
    assert issued_at("a1b2c3d4-1f") is None  # the form ids had before


def test_recorded_documents_are_kept_apart_and_pruned_with_their_block(
    history_store: HistoryStore,
) -> None:
    now = time.time()
    old = to_row(_summary(1, started=now - 7200), 1024)
    new = to_row(_summary(2, started=now), 1024)
    history_store.insert_many([old])
    history_store.insert_many([new, _at(3, now)])
    shown = history_store.get("x-1")
    assert shown is not None and shown.recorded is True
    assert shown.trace[0]["outputs"] == [{"text": '{"b":2}', "size": 7, "truncated": False}]
    assert history_store.prune(older_than=now - 3600, keep=100) == 1
    assert history_store.get("x-1") is None
    kept = history_store.get("x-2")
    assert kept is not None and kept.trace[0]["inputs"][0]["text"] == '{"a":1}'
    # The count limit takes whole blocks, oldest first, and never keeps more than asked.
    assert history_store.prune(older_than=0, keep=1) == 2
    assert history_store.count() == 0


TRACE = COLUMNS.index("trace")


def test_summaries_kept_one_row_each_are_moved_into_blocks(store: Store) -> None:
    """A gateway upgraded from a version that kept a row per execution loses none of them."""
    legacy = Table(
        "flowhost_executions",
        MetaData(),
        Column("id", String(200), primary_key=True),
        *(Column(name, String(200)) for name in COLUMNS[1:9]),
        Column("started_at", Float),
        Column("duration_ms", Float),
        Column("failing_step", Text),
        Column("error", Text),
        Column("recorded", Integer),
        Column("trace", Text),
    )
    legacy.create(store.engine)
    now = time.time()
    rows = [to_row(_summary(i, "failed" if i == 1 else "ok", now - i), 0) for i in range(2)]
    rows.append(to_row(_summary(2, started=now - 2), 1024))  # with its documents
    with store.engine.begin() as conn:
        conn.execute(
            legacy.insert(),
            [
                {
                    **dict(zip(COLUMNS[:TRACE], r, strict=False)),
                    "trace": orjson.dumps(r[TRACE]).decode(),
                }  # the legacy table had no `kind`
                for r in rows
            ],
        )
    moved = HistoryStore(store.engine)
    assert {r.kind for r in moved.list()} == {"action"}
    assert not inspect(store.engine).has_table("flowhost_executions")
    assert [r.id for r in moved.list()] == ["x-0", "x-1", "x-2"]
    failed = moved.get("x-1")
    assert failed is not None and failed.error == "boom"
    recorded = moved.get("x-2")
    assert recorded is not None and recorded.trace[0]["inputs"][0]["text"] == '{"a":1}'
    assert HistoryStore(store.engine).count() == 3  # a second start moves nothing twice


def test_an_id_found_in_another_field_is_not_that_execution(history_store: HistoryStore) -> None:
    identity = ("default", "shop", "1.0.0", "x-9", "quote")
    history_store.insert_many([to_row(_summary(1)._replace(identity=identity), 0)])
    assert history_store.get("x-9") is None
    assert history_store.get("x-1") is not None


@pytest.mark.parametrize("status", ["ok", "failed"])
def test_the_hot_path_makes_the_same_row_as_a_summary(
    status: str, history_store: HistoryStore
) -> None:
    history = History(history_store, batch=100)
    summary = _summary(1, status)
    assert summary.result is not None
    plain = summary._replace(result=replace(summary.result, recorded=False, trace=b"[]"))
    for given in (summary, plain):
        history.record_result(
            given.execution_id, given.identity, given.executor, given.started_at, given.result
        )
        history.record(given)
    rows = [orjson.dumps(row) for row in history._queue]
    assert rows[0] == rows[1] and rows[2] == rows[3]
    assert orjson.loads(rows[2])[COLUMNS.index("status")] == status


def test_kinds_are_kept_filtered_and_read_from_blocks_written_before_them(
    history_store: HistoryStore,
) -> None:
    now = time.time()
    data = to_row(_summary(1, started=now - 1)._replace(kind="data"), 1024)  # recorded documents
    file = to_row(_summary(2, started=now - 2)._replace(kind="file"), 0)
    older = to_row(_summary(3, started=now - 3), 0)[: TRACE + 1]  # a row of before `kind`
    history_store.insert_many([data, file])
    history_store.insert_many([older])
    listed = {r.id: r.kind for r in history_store.list()}
    assert listed == {"x-1": "data", "x-2": "file", "x-3": "action"}
    assert [r.id for r in history_store.list(kind="data")] == ["x-1"]
    assert [r.id for r in history_store.list(kind="action")] == ["x-3"]
    recorded = history_store.get("x-1")
    assert recorded is not None and recorded.kind == "data"
    assert recorded.trace[0]["inputs"][0]["text"] == '{"a":1}'
    old = history_store.get("x-3")
    assert old is not None and old.kind == "action"


def test_the_records_hold_every_column() -> None:
    """A column added to COLUMNS without a field would fail every listing."""
    summary = [f.name for f in dataclasses.fields(ExecutionSummary)]
    assert summary == [c for c in COLUMNS if c != "trace"]
    assert [f.name for f in dataclasses.fields(ExecutionDetail)] == [*summary, "trace"]
