"""Callbacks owed to Flow: pending, delivered and dead-lettered ones, and redelivery."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Control, running
from gateway.callbacks.outbox import STATES, Callback, Outbox
from gateway.callbacks.sender import CallbackSender
from gateway.control import ControlPlane

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
    return running(request).outbox


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
    row = await redeliver_callback(control, _outbox(request), running(request).sender, callback_id)
    return _out(row)


async def redeliver_callback(
    control: ControlPlane, outbox: Outbox, sender: CallbackSender | None, callback_id: str
) -> Callback:
    """Make a dead (or delivered) callback pending again and wake the sender: the API's and
    the console's redeliver."""
    row = await control.call(outbox.redeliver, callback_id)
    if sender is not None:
        sender.wake()
    await asyncio.sleep(0)
    return row
