"""Execution history: a summary of every execution, written in batches off the request path.

The Flow path only appends a row to an in-memory queue (`History.record`); a background task
makes what has queued into one block (gateway/history/store.py) every `flush_interval_s`, or
sooner when `batch` rows are waiting, and hands it to be inserted. When the database cannot
keep up the queue is bounded: the oldest summaries are dropped and counted, the request path
never waits. Another task prunes what is past the retention age and count.

A summary carries the step trace with timings; step documents (size-capped) only when the
execution recorded them (process mode `general`, or a request asking for a debug recording).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson

from gateway.history.store import Block, HistoryStore, make_block
from gateway.lifecycle import Lifecycle
from gateway.periodic import Periodic
from gateway.translate import ExecutionResult

log = logging.getLogger("flowhost.gateway")

_NO_TRACE = orjson.Fragment(b"[]")


class Summary(NamedTuple):
    """What the request path hands over: cheap to build (a tuple), made a row at once."""

    execution_id: str
    identity: tuple[str, str, str, str, str]  # runtime, package, version, process, action
    executor: str
    started_at: float
    invoke: str
    result: ExecutionResult | None  # None: the result was lost (executor died)
    error: str = ""
    duration_ms: float = 0.0  # when there is no result to tell
    kind: str = "action"  # action | data | file | webhook | schedule | subscribe (store.py)


def to_row(summary: Summary, document_max_bytes: int) -> tuple[Any, ...]:
    """The row of a summary, in `COLUMNS` order."""
    return _row(document_max_bytes, *summary)


def _row(
    document_max_bytes: int,
    execution_id: str,
    identity: tuple[str, str, str, str, str],
    executor: str,
    started_at: float,
    invoke: str,
    result: ExecutionResult | None,
    error: str = "",
    duration_ms: float = 0.0,
    kind: str = "action",
) -> tuple[Any, ...]:
    """A row in `COLUMNS` order. This runs for every execution, so it only gathers: the
    executor sent the trace already encoded as the JSON the history stores, and it is written
    into the block as it is (a Fragment)."""
    if result is None:
        return (
            execution_id, *identity, executor, "lost", invoke,
            started_at, duration_ms, "", error, 0, _NO_TRACE, kind,
        )  # fmt: skip
    step = ""
    if result.error is not None:
        error = error or result.error.message
        step = result.error.step_path
    recorded = result.recorded
    trace = orjson.Fragment(
        _within_budget(result.trace, document_max_bytes) if recorded else result.trace
    )
    return (
        execution_id, *identity, executor, result.status, invoke,
        started_at, result.duration_us / 1000, step, error, int(recorded), trace, kind,
    )  # fmt: skip


def _within_budget(trace: bytes, budget: int) -> bytes:
    """A recorded trace with its documents cut to `budget` bytes in all, in step order."""
    steps = orjson.loads(trace)
    for step in steps:
        if not isinstance(step, dict):
            continue
        for document in (*step.get("inputs", ()), *step.get("outputs", ())):
            key = "text" if "text" in document else "base64"
            content = document[key]
            if len(content) > budget:
                document[key] = content[:budget]
                document["truncated"] = True
            budget = max(0, budget - len(content))
    return orjson.dumps(steps)


class History(Lifecycle):
    """The recorder the request path uses, and its background writer and pruner."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        enabled: bool = True,
        flush_interval_s: float = 0.5,
        batch: int = 2000,
        queue_max: int = 50_000,
        retention_days: float = 7.0,
        max_rows: int = 1_000_000,
        prune_interval_s: float = 60.0,
        document_max_bytes: int = 256 * 1024,
        prune_also: Callable[[float], int] | None = None,
        sink: Callable[[Block], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.enabled = enabled
        # Rows, not summaries: a summary holds the whole result (documents, trace objects);
        # turning it into its compact row at once frees those instead of keeping thousands
        # alive until the next flush, where they survive and burden the garbage collector.
        self._queue: deque[tuple[Any, ...]] = deque()
        self._flush_interval_s = flush_interval_s
        self._batch = batch
        self._queue_max = queue_max
        self._retention_s = retention_days * 86400
        self._max_rows = max_rows
        self._prune_interval_s = prune_interval_s
        self._document_max_bytes = document_max_bytes
        self._prune_also = prune_also  # e.g. delivered callbacks, by the same age
        # Where batches go: by default inserted from a thread; the gateway hands them to a
        # writer process instead (history/writer.py says why).
        self._sink = sink
        self._writer = Periodic("history writer", self._write, flush_interval_s, delay_first=True)
        self._pruner = Periodic("history pruner", self._prune, prune_interval_s)
        self.dropped = 0
        #: Since start, for gateway/metrics: summaries handed to the store, and dropped.
        self.written_total = 0
        self.dropped_total = 0
        self._queued_since = 0.0  # monotonic time the queue last stopped being empty

    def record(self, summary: Summary) -> None:
        """One compact row appended (and, rarely, a wake-up or a drop)."""
        if self.enabled:
            self._append(to_row(summary, self._document_max_bytes))

    def record_result(
        self,
        execution_id: str,
        identity: tuple[str, str, str, str, str],
        executor: str,
        started_at: float,
        result: ExecutionResult,
        kind: str = "action",
    ) -> None:
        """`record` for an execution answered at once (the hot path: no Summary in between).
        `kind` is action, data or file; for the latter two `identity` names the operation in
        its action field ("load Country", "upload /invoices")."""
        if self.enabled:
            self._append(
                _row(
                    self._document_max_bytes, execution_id, identity, executor, started_at,
                    "FORWARD", result, "", 0.0, kind,
                )
            )  # fmt: skip

    def _append(self, row: tuple[Any, ...]) -> None:
        queue = self._queue
        if not queue:
            self._queued_since = time.monotonic()
        queue.append(row)
        length = len(queue)
        if length >= self._batch:
            if length > self._queue_max:
                queue.popleft()
                self.dropped += 1
                self.dropped_total += 1
            self._writer.wake()

    async def start(self) -> None:
        self._writer.start()
        self._pruner.start()

    async def stop(self) -> None:
        await self._writer.stop()
        await self._pruner.stop()
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far."""
        queue = self._queue
        while queue:
            if len(queue) <= self._batch:
                taken = list(queue)
                queue.clear()
            else:
                taken = [queue.popleft() for _ in range(self._batch)]
            block = make_block(taken)
            if self._sink is not None:
                await self._sink(block)
            else:
                await asyncio.to_thread(self.store.insert_block, block)
            self.written_total += len(taken)

    @property
    def queued(self) -> int:
        """Summaries waiting to be written."""
        return len(self._queue)

    @property
    def lag_s(self) -> float:
        """How far the writer is behind: how long summaries have been waiting without the
        queue emptying (0 when it is empty). Up to a flush interval or so is normal; more
        means the database cannot keep up."""
        return time.monotonic() - self._queued_since if self._queue else 0.0

    async def _write(self) -> None:
        await self.flush()
        if self.dropped:
            log.warning("execution history fell behind: dropped %d summaries", self.dropped)
            self.dropped = 0

    async def _prune(self) -> None:
        older_than = time.time() - self._retention_s
        removed = await asyncio.to_thread(
            self.store.prune, older_than=older_than, keep=self._max_rows
        )
        if self._prune_also is not None:
            await asyncio.to_thread(self._prune_also, older_than)
        if removed:
            log.info("pruned %d executions from the history", removed)
