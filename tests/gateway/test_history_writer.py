"""The history writer process: batches handed over a pipe reach the database (SQLite and
PostgreSQL), everything is written before it stops, and a writer that died is replaced."""

from __future__ import annotations

import asyncio
import time

from gateway.history.record import History
from gateway.history.store import HistoryStore, make_block
from gateway.history.writer import HistoryWriterProcess
from gateway.store import Store
from tests.gateway.test_history import _summary

#: The child runs at idle priority: on a saturated machine (load 18 on 2 cores) it needed more
#: than the default 10 s just to start and write 250 rows, and stop() killed it.
STOP_TIMEOUT_S = 60.0


def _eventually_count(
    history_store: HistoryStore, expected: int, timeout_s: float = STOP_TIMEOUT_S
) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        count = history_store.count()
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_rows_reach_the_database_through_the_child(store_url: str, store: Store) -> None:
    history_store = HistoryStore(store.engine)

    async def scenario() -> None:
        writer = HistoryWriterProcess(store_url, stop_timeout_s=STOP_TIMEOUT_S)
        await writer.start()
        history = History(history_store, flush_interval_s=0.05, batch=100, sink=writer.write)
        await history.start()
        for i in range(250):
            history.record(_summary(i))
        await history.stop()  # flushes what is queued into the pipe
        await writer.stop()  # the child writes everything it was given, then exits

    asyncio.run(scenario())
    assert history_store.count() == 250
    row = history_store.get("x-1")
    assert row is not None
    assert (row.process, row.status) == ("quote", "ok")
    assert row.trace[0]["path"] == "processes.p.steps[0]"


def test_a_writer_that_died_is_replaced(store_url: str, store: Store) -> None:
    history_store = HistoryStore(store.engine)

    async def scenario() -> None:
        writer = HistoryWriterProcess(store_url, stop_timeout_s=STOP_TIMEOUT_S)
        await writer.start()
        await writer.write(make_block([_row(0)]))
        assert _eventually_count(history_store, 1) == 1
        process = writer._process
        assert process is not None
        process.kill()
        await process.wait()
        await writer.write(make_block([_row(1)]))  # notices the child is gone and starts another
        await writer.stop()

    asyncio.run(scenario())
    assert history_store.count() == 2


def _row(i: int) -> tuple[object, ...]:
    from gateway.history.record import to_row

    return to_row(_summary(i), 1024)
