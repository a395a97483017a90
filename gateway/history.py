"""Execution history: a summary of every execution, written in batches off the request path.

The Flow path only appends to an in-memory queue (`History.record`, one deque append); a
background task turns what has queued into rows and inserts them in one executemany every
`flush_interval_s`, or sooner when `batch` rows are waiting. When the database cannot keep up
the queue is bounded: the oldest summaries are dropped and counted, the request path never
waits. Another task prunes rows past the retention age and count.

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
from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Engine

from gateway.translate import ExecutionResult

log = logging.getLogger("flowhost.gateway")

metadata = MetaData()

executions = Table(
    "flowhost_executions",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("runtime", String(200), nullable=False),
    Column("package", String(200), nullable=False),
    Column("version", String(200), nullable=False),
    Column("process", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("executor", String(300), nullable=False),
    Column("status", String(16), nullable=False),  # ok | failed | deadline | cancelled | lost
    Column("invoke", String(16), nullable=False),  # FORWARD: answered at once; WAIT: callback
    Column("started_at", Float, nullable=False),  # epoch seconds
    Column("duration_ms", Float, nullable=False),
    Column("failing_step", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("recorded", Integer, nullable=False),  # 1 when step documents were recorded
    Column("trace", Text, nullable=False),  # JSON: [{path, type, duration_us, ...}]
    # One index besides the key: each costs every execution an insert. Filtered listings walk
    # this one newest first and stop at their limit.
    Index("ix_flowhost_executions_started", "started_at"),
)


class Summary(NamedTuple):
    """What the request path hands over: cheap to build (a tuple), made a row off the path."""

    execution_id: str
    runtime: str
    package: str
    version: str
    process: str
    action: str
    executor: str
    started_at: float
    duration_ms: float
    invoke: str
    result: ExecutionResult | None  # None: the result was lost (executor died)
    error: str = ""


#: The columns `to_row` fills, in order.
COLUMNS = tuple(c.name for c in executions.c)
_STEP_KEYS = ("path", "type", "duration_us", "documents_in", "documents_out", "error")


def to_row(summary: Summary, document_max_bytes: int) -> tuple[Any, ...]:
    """A row in `COLUMNS` order. This runs for every execution, so it only gathers: the
    executor sent the trace already encoded as the JSON this table stores."""
    result = summary.result
    error = summary.error
    step = ""
    status = "lost"
    trace = "[]"
    recorded = False
    if result is not None:
        status = result.status
        if result.error is not None:
            error = error or result.error.message
            step = result.error.step_path
        recorded = result.recorded
        if recorded:
            trace = _within_budget(result.trace, document_max_bytes)
        else:
            trace = result.trace.decode()
    return (
        summary.execution_id,
        summary.runtime,
        summary.package,
        summary.version,
        summary.process,
        summary.action,
        summary.executor,
        status,
        summary.invoke,
        summary.started_at,
        summary.duration_ms,
        step,
        error,
        int(recorded),
        trace,
    )


def _within_budget(trace: bytes, budget: int) -> str:
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
    return orjson.dumps(steps).decode()


def _expand(step: Any) -> dict[str, Any]:
    return dict(zip(_STEP_KEYS, step, strict=True)) if isinstance(step, list) else dict(step)


class HistoryStore:
    """The executions table: batch inserts, queries, pruning. Synchronous; use off the loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)
        # One DBAPI executemany per batch: SQLAlchemy's per-row processing would cost more
        # than everything else the history does. (Tried: one INSERT ... SELECT over
        # json_each(?) for SQLite; it cost more CPU, 10 vs 7 us a row, for no measurable gain.)
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert = (
            f"INSERT INTO {executions.name} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(COLUMNS))})"
        )

    def insert_many(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._engine.begin() as conn:
                conn.exec_driver_sql(self._insert, rows)

    def list(
        self,
        *,
        runtime: str | None = None,
        process: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        columns = [c for c in executions.c if c.name != "trace"]
        query = select(*columns).order_by(executions.c.started_at.desc()).limit(limit)
        if runtime is not None:
            query = query.where(executions.c.runtime == runtime)
        if process is not None:
            query = query.where(executions.c.process == process)
        if status is not None:
            query = query.where(executions.c.status == status)
        if since is not None:
            query = query.where(executions.c.started_at >= since)
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def get(self, execution_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(executions).where(executions.c.id == execution_id)).mappings()
            found = row.first()
        if found is None:
            return None
        summary = dict(found)
        summary["trace"] = [_expand(step) for step in orjson.loads(summary["trace"])]
        return summary

    def prune(self, *, older_than: float, keep: int) -> int:
        """Delete rows started before `older_than`, and all but the newest `keep`."""
        with self._engine.begin() as conn:
            removed = conn.execute(
                delete(executions).where(executions.c.started_at < older_than)
            ).rowcount
            cutoff = conn.execute(
                select(executions.c.started_at)
                .order_by(executions.c.started_at.desc())
                .offset(keep)
                .limit(1)
            ).scalar_one_or_none()
            if cutoff is not None:
                removed += conn.execute(
                    delete(executions).where(executions.c.started_at <= cutoff)
                ).rowcount
        return int(removed)

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(executions)) or 0)


class History:
    """The recorder the request path uses, and its background writer and pruner."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        enabled: bool = True,
        flush_interval_s: float = 0.5,
        batch: int = 500,
        queue_max: int = 50_000,
        retention_days: float = 7.0,
        max_rows: int = 1_000_000,
        prune_interval_s: float = 60.0,
        document_max_bytes: int = 256 * 1024,
        prune_also: Callable[[float], int] | None = None,
        sink: Callable[[list[tuple[Any, ...]]], Awaitable[None]] | None = None,
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
        # writer process instead (history_writer.py says why).
        self._sink = sink
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    def record(self, summary: Summary) -> None:
        """The hot-path call: one compact row appended (and, rarely, a wake-up or a drop)."""
        if not self.enabled:
            return
        queue = self._queue
        queue.append(to_row(summary, self._document_max_bytes))
        length = len(queue)
        if length >= self._batch:
            if length > self._queue_max:
                queue.popleft()
                self.dropped += 1
            self._wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="history writer"),
            asyncio.create_task(self._prune_loop(), name="history pruner"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far."""
        while self._queue:
            taken = [self._queue.popleft() for _ in range(min(len(self._queue), self._batch))]
            if self._sink is not None:
                await self._sink(taken)
            else:
                await asyncio.to_thread(self._write, taken)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        self.store.insert_many(rows)

    async def _write_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing execution history failed; will retry")
                await asyncio.sleep(self._flush_interval_s)
            if self.dropped:
                log.warning("execution history fell behind: dropped %d summaries", self.dropped)
                self.dropped = 0

    async def _prune_loop(self) -> None:
        while True:
            try:
                older_than = time.time() - self._retention_s
                removed = await asyncio.to_thread(
                    self.store.prune, older_than=older_than, keep=self._max_rows
                )
                if self._prune_also is not None:
                    await asyncio.to_thread(self._prune_also, older_than)
                if removed:
                    log.info("pruned %d executions from the history", removed)
            except Exception:
                log.exception("pruning execution history failed")
            await asyncio.sleep(self._prune_interval_s)
