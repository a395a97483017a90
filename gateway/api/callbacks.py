"""Callbacks owed to Flow: pending, delivered and dead-lettered ones, and redelivery."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Control
from gateway.callbacks.outbox import STATES, Callback, Outbox

router = APIRouter(tags=["callbacks"])


class CallbackOut(BaseModel):
    id: str = Field(description="The execution id (with ~progress for interim callbacks)")
    execution_id: str
    kind: str = Field(description="final | progress")
    state: str = Field(description="running | pending | delivered | dead | superseded")
    runtime: str
    action: str
    process: str
    executor: str
    callback_uri: str
    attempts: int
    last_error: str
    created_at: str
    next_at: str | None
    delivered_at: str | None


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


def _time(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def _out(row: Callback) -> dict[str, Any]:
    waiting = row.state in ("running", "pending")
    return {
        **asdict(row),
        "created_at": _time(row.created_at),
        "next_at": _time(row.next_at) if waiting else None,
        "delivered_at": _time(row.delivered_at),
    }


@router.get("/api/callbacks", response_model=list[CallbackOut], summary="Callbacks, newest first")
async def list_callbacks(
    request: Request,
    control: Control,
    state: str | None = Query(None, description=", ".join(STATES)),
    runtime: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    rows = await control.call(_outbox(request).list, state, runtime, limit)
    return [_out(r) for r in rows]


@router.post(
    "/api/callbacks/{callback_id}/redeliver",
    response_model=CallbackOut,
    summary="Send a dead-lettered (or delivered) callback again",
    responses={
        400: {"description": "The callback is still running or pending"},
        404: {"description": "No such callback"},
    },
)
async def redeliver(callback_id: str, request: Request, control: Control) -> dict[str, Any]:
    row = await control.call(_outbox(request).redeliver, callback_id)
    sender = getattr(request.app.state, "sender", None)
    if sender is not None:
        sender.wake()
    await asyncio.sleep(0)
    return _out(row)
