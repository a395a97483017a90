"""Where execution summaries are kept: in blocks, one database row per batch of executions.

A row per execution cost the writer ~6 µs of CPU per execution on a loaded two-core machine
(SQLite binds 15 columns and updates three B-trees for each), and that alone took 5-12% off the
quote action's throughput (scripts/history_bench.py). A block is one insert for a whole batch:
its executions are one JSON array, in `COLUMNS` order and compressed, with the block's time
span, size and count of non-ok executions beside it, so queries open only the blocks they need.

- Listing walks blocks newest first and merges them, so the order is exact even where blocks
  overlap in time (several gateways; an execution that answered WAIT is written when it ends).
- `get` opens only the blocks around the time an id carries (gateway/execution_ids.py); an id
  that carries none (made before ids did) is searched for in every block.
- Retention removes whole blocks: a block goes once its newest execution is past the age, and
  the count limit keeps at most `keep` executions.
- Step documents recorded for an execution (process mode `general`, debug requests) can be
  large; they are kept in their own table, one row per recorded execution, and read by `get`.
"""

from __future__ import annotations

import heapq
import logging
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine

from gateway.execution_ids import issued_at
from gateway.store.schema import create_tables

log = logging.getLogger("flowhost.gateway")

metadata = MetaData()

#: The fields of one execution, in the order its row (a JSON array) holds them.
COLUMNS = (
    "id",
    "runtime",
    "package",
    "version",
    "process",
    "action",
    "executor",
    "status",  # ok | failed | deadline | cancelled | lost
    "invoke",  # FORWARD: answered at once; WAIT: answered by a callback
    "started_at",  # epoch seconds
    "duration_ms",
    "failing_step",
    "error",
    "recorded",  # 1 when step documents were recorded
    "trace",  # [[path, type, duration_us, documents_in, documents_out, error], ...]
    # action: a message action; data: a data action (load, save, delete); file: a file resource
    # (list, upload). Last, so blocks written before it (one field shorter) still read.
    "kind",
)
_ID, _STATUS, _STARTED, _RECORDED, _TRACE, _KIND = (COLUMNS.index(c) for c in (
    "id", "status", "started_at", "recorded", "trace", "kind"
))  # fmt: skip
#: What a row written before a column existed holds in it.
_MISSING = {_KIND: "action"}
#: Columns a listing shows: all but the trace.
_LISTED = tuple(c for c in COLUMNS if c != "trace")
_recorded_of, _started_of, _status_of = map(itemgetter, (_RECORDED, _STARTED, _STATUS))
_FILTERED = {c: COLUMNS.index(c) for c in ("runtime", "package", "process", "status", "kind")}
_STEP_KEYS = ("path", "type", "duration_us", "documents_in", "documents_out", "error")

blocks = Table(
    "flowhost_execution_blocks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_min", Float, nullable=False),
    Column("started_max", Float, nullable=False, index=True),
    Column("size", Integer, nullable=False),  # executions in the block
    Column("problems", Integer, nullable=False),  # executions whose status is not ok
    # JSON, [[COLUMNS...], ...], zlib-compressed (level 1): ~16x smaller, and compressing
    # costs the writer less than storing the difference (0.30 vs 0.77 ms a block of 500).
    Column("executions", LargeBinary, nullable=False),
)

recordings = Table(
    "flowhost_execution_recordings",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("trace", Text, nullable=False),  # the trace with its step documents
)

#: Where summaries were kept, one row each, before blocks; moved into blocks at start.
_LEGACY_TABLE = "flowhost_executions"

#: Seconds around an id's time where its execution's start lies (the id is made as the request
#: arrives; `started_at` is taken when it runs, after the body is read).
_ID_EARLIEST_S, _ID_LATEST_S = 1.0, 120.0


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """One execution as the history lists it (the fields of `COLUMNS` but its trace)."""

    id: str
    runtime: str
    package: str
    version: str
    process: str
    action: str
    executor: str
    status: str  # ok | failed | deadline | cancelled | lost
    invoke: str  # FORWARD | WAIT
    started_at: float  # epoch seconds
    duration_ms: float
    failing_step: str
    error: str
    recorded: bool  # step documents were recorded
    kind: str  # action | data | file


@dataclass(frozen=True, slots=True)
class ExecutionDetail(ExecutionSummary):
    """One execution with its step trace: per step path, type, duration_us, documents_in,
    documents_out, error, and the recorded inputs/outputs when there are any."""

    trace: list[dict[str, Any]]


def _summary_fields(row: Sequence[Any]) -> dict[str, Any]:
    """A complete row's fields but its trace (`_complete` fills in columns added later)."""
    fields = dict(zip(_LISTED, (*row[:_TRACE], *row[_TRACE + 1 :]), strict=True))
    fields["recorded"] = bool(fields["recorded"])
    return fields


class Block(NamedTuple):
    """A batch of executions as stored; `executions` is their JSON, recorded traces apart."""

    started_min: float
    started_max: float
    size: int
    problems: int
    executions: bytes
    recordings: list[tuple[str, float, str]]  # (id, started_at, trace JSON)


def make_block(rows: Sequence[Sequence[Any]]) -> Block:
    """The block for a batch of rows in `COLUMNS` order (at least one). The gateway makes one
    per batch, so each pass over the rows is a C loop (itemgetter), not Python code per row."""
    recorded = []
    if any(map(_recorded_of, rows)):
        recorded = [
            (r[_ID], r[_STARTED], orjson.dumps(r[_TRACE]).decode()) for r in rows if r[_RECORDED]
        ]
        rows = [[*r[:_TRACE], None, *r[_TRACE + 1 :]] if r[_RECORDED] else r for r in rows]
    started = list(map(_started_of, rows))
    return Block(
        min(started),
        max(started),
        len(rows),
        len(rows) - list(map(_status_of, rows)).count("ok"),
        orjson.dumps(rows),
        recorded,
    )


class HistoryStore:
    """The history tables: block inserts, queries, pruning. Synchronous; use off the loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, metadata)
        self._adopt_legacy_rows()

    def insert_block(self, block: Block) -> None:
        with self._engine.begin() as conn:
            self._insert(conn, block)

    def insert_many(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert `rows` (in `COLUMNS` order) as one block."""
        if rows:
            self.insert_block(make_block(rows))

    @staticmethod
    def _insert(conn: Connection, block: Block) -> None:
        conn.execute(
            blocks.insert().values(
                started_min=block.started_min,
                started_max=block.started_max,
                size=block.size,
                problems=block.problems,
                executions=zlib.compress(block.executions, 1),
            )
        )
        if block.recordings:
            conn.execute(
                recordings.insert(),
                [{"id": i, "started_at": s, "trace": t} for i, s, t in block.recordings],
            )

    def list(
        self,
        *,
        runtime: str | None = None,
        process: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        package: str | None = None,
        kind: str | None = None,
    ) -> list[ExecutionSummary]:
        """Executions newest first, filtered; without their traces."""
        filters = (
            ("runtime", runtime),
            ("package", package),
            ("process", process),
            ("status", status),
            ("kind", kind),
        )
        wanted = [(_FILTERED[name], value) for name, value in filters if value is not None]
        query = select(blocks.c.id, blocks.c.started_max).order_by(blocks.c.started_max.desc())
        if since is not None:
            query = query.where(blocks.c.started_max >= since)
        if status is not None and status != "ok":
            query = query.where(blocks.c.problems > 0)
        found: list[list[Any]] = []
        with self._engine.connect() as conn:
            heads = conn.execute(query).all()  # small: one row per block
            contents = (_executions(conn, block_id) for block_id, _ in heads)
            for stored in _newest_first((head.started_max for head in heads), contents):
                if since is not None and stored[_STARTED] < since:
                    continue
                row = _complete(stored)
                if all(row[i] == value for i, value in wanted):
                    found.append(row)
                    if len(found) == limit:
                        break
        return [ExecutionSummary(**_summary_fields(row)) for row in found]

    def get(self, execution_id: str) -> ExecutionDetail | None:
        """One execution with its step trace (and recorded documents), or None."""
        with self._engine.connect() as conn:
            row = _find(conn, execution_id)
            if row is None:
                return None
            row = _complete(row)
            trace = row[_TRACE]
            if row[_RECORDED]:
                recorded = conn.scalar(
                    select(recordings.c.trace).where(recordings.c.id == execution_id)
                )
                trace = orjson.loads(recorded) if recorded is not None else []
        steps = [_expand(step) for step in trace or ()]
        return ExecutionDetail(**_summary_fields(row), trace=steps)

    def prune(self, *, older_than: float, keep: int) -> int:
        """Remove the blocks whose executions all started before `older_than`, then the oldest
        blocks until at most `keep` executions remain; returns how many executions went."""
        with self._engine.begin() as conn:
            heads = conn.execute(
                select(blocks.c.id, blocks.c.started_max, blocks.c.size).order_by(
                    blocks.c.started_max.desc(), blocks.c.id.desc()
                )
            ).all()
            kept = 0
            doomed: list[int] = []
            removed = 0
            for block_id, started_max, size in heads:
                if started_max >= older_than and kept + size <= keep:
                    kept += size
                    continue
                doomed.append(block_id)
                removed += size
                keep = kept  # nothing older stays
            for start in range(0, len(doomed), 500):
                conn.execute(delete(blocks).where(blocks.c.id.in_(doomed[start : start + 500])))
            # A recording belongs to a kept block only if it is no older than the oldest one.
            oldest_kept = conn.scalar(select(func.min(blocks.c.started_min)))
            stale = delete(recordings)
            if oldest_kept is not None:
                stale = stale.where(recordings.c.started_at < oldest_kept)
            conn.execute(stale)
        return removed

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.scalar(select(func.coalesce(func.sum(blocks.c.size), 0))) or 0)

    def _adopt_legacy_rows(self) -> None:
        """Move summaries kept one row each (before blocks) into blocks, once."""
        if not inspect(self._engine).has_table(_LEGACY_TABLE):
            return
        try:
            with self._engine.begin() as conn:
                legacy = conn.execute(
                    text(
                        f"SELECT {', '.join(COLUMNS[: _TRACE + 1])} FROM {_LEGACY_TABLE} "
                        "ORDER BY started_at"
                    )
                ).all()
                for start in range(0, len(legacy), 500):
                    chunk = [_legacy_row(r) for r in legacy[start : start + 500]]
                    self._insert(conn, make_block(chunk))
                conn.execute(text(f"DROP TABLE {_LEGACY_TABLE}"))
            log.info("moved %d executions from %s into blocks", len(legacy), _LEGACY_TABLE)
        except Exception:  # another gateway moved them first
            if inspect(self._engine).has_table(_LEGACY_TABLE):
                raise


def _find(conn: Connection, execution_id: str) -> list[Any] | None:
    at = issued_at(execution_id)
    query = select(blocks.c.executions)
    if at is not None:  # only the blocks around the time it carries
        query = query.where(
            blocks.c.started_max >= at - _ID_EARLIEST_S,
            blocks.c.started_min <= at + _ID_LATEST_S,
        )
    needle = orjson.dumps(execution_id)  # quoted: "a-1" never matches "a-10"
    for (compressed,) in conn.execute(query):
        executions = zlib.decompress(compressed)
        if needle in executions:  # maybe only inside an error message: look closer
            rows: list[list[Any]] = orjson.loads(executions)
            found = next((row for row in rows if row[_ID] == execution_id), None)
            if found is not None:
                return found
    return None


def _executions(conn: Connection, block_id: int) -> list[list[Any]]:
    found = conn.scalar(select(blocks.c.executions).where(blocks.c.id == block_id))
    return orjson.loads(zlib.decompress(found)) if found is not None else []


def _legacy_row(row: Sequence[Any]) -> list[Any]:
    moved = _complete(list(row))
    moved[_TRACE] = orjson.Fragment(moved[_TRACE] or "[]")
    return moved


def _complete(row: list[Any]) -> list[Any]:
    """A stored row with the columns added after it was written filled in."""
    if len(row) < len(COLUMNS):
        return [*row, *(_MISSING[i] for i in range(len(row), len(COLUMNS)))]
    return row


def _newest_first(
    starts: Iterable[float], contents: Iterator[list[list[Any]]]
) -> Iterator[list[Any]]:
    """Rows from blocks given newest `started_max` first, merged newest `started_at` first:
    a row is final once no block still unread can hold a newer one."""
    pending: list[tuple[float, int, list[Any]]] = []
    sequence = 0
    for newest_unread in starts:
        while pending and -pending[0][0] >= newest_unread:
            yield heapq.heappop(pending)[2]
        for row in next(contents):
            heapq.heappush(pending, (-row[_STARTED], sequence, row))
            sequence += 1
    while pending:
        yield heapq.heappop(pending)[2]


def _expand(step: Any) -> dict[str, Any]:
    return dict(zip(_STEP_KEYS, step, strict=True)) if isinstance(step, list) else dict(step)
