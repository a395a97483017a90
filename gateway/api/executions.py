"""Execution history: summaries of every execution, and one execution's step trace."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Control, running
from gateway.errors import BadRequest, NotFound
from gateway.history.record import History
from gateway.history.store import ExecutionDetail as StoredExecution
from gateway.history.store import ExecutionSummary

log = logging.getLogger("flowhost.gateway")

router = APIRouter(tags=["executions"])


class ExecutionOut(BaseModel):
    id: str
    runtime: str
    package: str
    version: str
    process: str
    action: str = Field(
        description="The message action; for data and file executions the operation and what "
        "it is on: 'load Country', 'save Country', 'delete Country', 'list /invoices', "
        "'upload /invoices'"
    )
    kind: str = Field(description="action | data | file | webhook | schedule | subscribe")
    executor: str
    status: str = Field(description="ok | failed | deadline | cancelled | lost")
    invoke: str = Field(description="FORWARD: answered at once; WAIT: result sent by callback")
    started_at: str
    duration_ms: float
    failing_step: str
    error: str
    recorded: bool = Field(description="Step documents were recorded")


class ExecutionDetail(ExecutionOut):
    trace: list[dict[str, Any]] = Field(
        description="Steps in the order they started: path, type, duration_us, documents_in, "
        "documents_out, error, and when recorded inputs/outputs ({text|base64, size, truncated})"
    )


class Recording(BaseModel):
    enabled: bool = Field(description="This gateway records a summary of every execution")


def _history(request: Request) -> History:
    return running(request).history


def _out(row: ExecutionSummary) -> dict[str, Any]:
    return {**asdict(row), "started_at": datetime.fromtimestamp(row.started_at, UTC).isoformat()}


def parse_since(since: str) -> float:
    """'15m', '2h', '7d', '30s' ago, or an ISO 8601 timestamp -> epoch seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = since.strip()
    if text and text[-1] in units:
        try:
            return datetime.now(UTC).timestamp() - float(text[:-1]) * units[text[-1]]
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"since {since!r}: expected a duration like 15m, 2h, 7d or an ISO 8601 time",
            code="bad_since",
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@router.get(
    "/api/executions",
    response_model=list[ExecutionOut],
    summary="Executions, newest first",
    description="Summaries are written in batches about every half second, so the newest "
    "executions may take that long to appear.",
    responses={400: {"description": "`since` is neither a duration nor an ISO 8601 time"}},
)
async def list_executions(
    request: Request,
    control: Control,
    runtime: str | None = None,
    process: str | None = None,
    status: str | None = Query(None, description="ok, failed, deadline, cancelled or lost"),
    kind: Literal["action", "data", "file", "webhook", "schedule", "subscribe"] | None = Query(
        None,
        description="action (message actions), data (load/save/delete), file (list/upload), or "
        "the trigger kinds webhook, schedule, subscribe (`action` is then the trigger's name)",
    ),
    since: str | None = Query(None, description="15m, 2h, 7d, or an ISO 8601 time"),
    limit: int = Query(50, ge=1, le=1000),
    package: str | None = Query(None, description="The package (one service) that ran"),
) -> list[dict[str, Any]]:
    rows = await query_executions(
        _history(request),
        runtime=runtime,
        package=package,
        process=process,
        status=status,
        since=since,
        limit=limit,
        kind=kind,
    )
    return [_out(r) for r in rows]


async def query_executions(
    history: History,
    *,
    runtime: str | None = None,
    package: str | None = None,
    process: str | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int = 50,
    kind: str | None = None,
) -> list[ExecutionSummary]:
    """Execution summaries newest first (the API's list and the console's): `since` as the
    user typed it, refused with a 400 that says what it should look like."""
    return await asyncio.to_thread(
        history.store.list,
        runtime=runtime,
        package=package,
        process=process,
        status=status,
        since=parse_since(since) if since else None,
        limit=limit,
        kind=kind,
    )


async def find_execution(history: History, execution_id: str) -> StoredExecution:
    """One execution with its trace, looked for again after a flush (it may still be queued);
    NotFound when the history has none."""
    row = await asyncio.to_thread(history.store.get, execution_id)
    if row is None:
        await history.flush()
        row = await asyncio.to_thread(history.store.get, execution_id)
    if row is None:
        raise NotFound(f"no execution {execution_id!r} in the history", code="unknown_execution")
    return row


@router.get(
    "/api/executions/{execution_id}",
    response_model=ExecutionDetail,
    summary="One execution with its step trace (and recorded documents)",
    responses={404: {"description": "No such execution in the history"}},
)
async def show_execution(execution_id: str, request: Request, control: Control) -> dict[str, Any]:
    return _out(await find_execution(_history(request), execution_id))


@router.get(
    "/api/history",
    response_model=Recording,
    summary="Whether this gateway records executions",
)
async def recording(request: Request, control: Control) -> dict[str, bool]:
    return {"enabled": _history(request).enabled}


@router.put(
    "/api/history",
    response_model=Recording,
    summary="Pause or resume recording executions on this gateway",
    description="Holds until the gateway restarts (FLOWHOST_HISTORY_ENABLED sets it at start); "
    "each gateway has its own switch. Executions that end while paused are not recorded.",
)
async def switch_recording(body: Recording, request: Request, control: Control) -> dict[str, bool]:
    history = _history(request)
    if history.enabled != body.enabled:
        history.enabled = body.enabled
        log.info("execution history %s", "resumed" if body.enabled else "paused")
    return {"enabled": history.enabled}
