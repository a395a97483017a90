"""`flowhost executions` and `flowhost callbacks`: what ran, and the callbacks owed to Flow."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from flowhost.cli.shared import AnyRuntime, Gateway, console, gateway_command, timestamp

executions_app = typer.Typer(
    help="Execution history: `flowhost executions` lists, `flowhost executions show ID` details."
)
callbacks_app = typer.Typer(
    help="Callbacks owed to Flow: `flowhost callbacks` lists, `redeliver ID` sends one again."
)


class ExecutionStatus(StrEnum):
    """The statuses the gateway records (gateway/history); a bad value lists these."""

    ok = "ok"
    failed = "failed"
    deadline = "deadline"
    cancelled = "cancelled"
    lost = "lost"


class ExecutionKind(StrEnum):
    """What started an execution (GET /api/executions?kind=)."""

    ACTION = "action"
    DATA = "data"
    FILE = "file"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    SUBSCRIBE = "subscribe"


class CallbackState(StrEnum):
    """A callback's states in the outbox (docs/operations.md)."""

    running = "running"
    pending = "pending"
    delivered = "delivered"
    dead = "dead"
    superseded = "superseded"


class Switch(StrEnum):
    on = "on"
    off = "off"


def _id_column(header: str, rows: list[dict[str, Any]]) -> Column:
    """Ids are copied into other commands: never cut or wrapped."""
    width = max([len(header), *(len(r["id"]) for r in rows)])
    return Column(header, no_wrap=True, min_width=width)


@executions_app.callback(invoke_without_command=True)
@gateway_command
def executions_list(
    gateway: Gateway,
    ctx: typer.Context,
    runtime: AnyRuntime = None,
    process: Annotated[str | None, typer.Option(help="Process name.")] = None,
    status: Annotated[ExecutionStatus | None, typer.Option(help="Only this status.")] = None,
    since: Annotated[str | None, typer.Option(help="15m, 2h, 7d or an ISO 8601 time.")] = None,
    kind: Annotated[
        ExecutionKind | None,
        typer.Option(help="action, data (load/save/delete) or file (list/upload)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """List executions, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with gateway.client() as client:
        rows = client.executions(
            runtime=runtime,
            process=process,
            status=status.value if status else None,
            since=since,
            kind=kind.value if kind else None,
            limit=limit,
        )
    table = Table(
        "started (UTC)",
        Column("kind", no_wrap=True),
        Column("action", no_wrap=True),
        Column("process", no_wrap=True),
        Column("status", no_wrap=True),
        "ms",
        "error",
        caption="details: flowhost executions show ID",
    )
    table.columns.insert(0, _id_column("execution", rows))
    for row in rows:
        table.add_row(
            row["id"],
            timestamp(row["started_at"]),
            row.get("kind", "action"),
            row["action"],
            row["process"],
            row["status"] + (" (WAIT)" if row["invoke"] == "WAIT" else ""),
            f"{row['duration_ms']:.1f}",
            (f"{row['failing_step']}: " if row["failing_step"] else "") + row["error"][:80],
        )
    console.print(table)


@executions_app.command("recording")
@gateway_command
def executions_recording(
    gateway: Gateway,
    switch: Annotated[
        Switch | None, typer.Argument(help="on or off; without it, show whether it records.")
    ] = None,
) -> None:
    """Pause (off) or resume (on) recording executions on this gateway, until it restarts."""
    with gateway.client() as client:
        state = client.recording(None if switch is None else switch is Switch.on)
    console.print(f"execution history: {'recording' if state['enabled'] else 'paused'}")


@executions_app.command("show")
@gateway_command
def executions_show(
    gateway: Gateway,
    execution_id: Annotated[str, typer.Argument(help="Execution id (X-Flowhost-Execution-Id)")],
) -> None:
    """One execution: its summary and step trace, with documents when they were recorded."""
    with gateway.client() as client:
        row = client.execution(execution_id)
    console.print(
        f"execution {row['id']}: {row['status']} ({row['invoke']}) in {row['duration_ms']:.1f} ms",
        highlight=False,
    )
    console.print(
        f"  runtime {row['runtime']}, {row['package']} {row['version']}, process "
        f"{row['process']}, action {row['action']}, executor {row['executor']}, "
        f"started {timestamp(row['started_at'])}",
        highlight=False,
    )
    if row["error"]:
        console.print(f"  error at {row['failing_step'] or '-'}: {row['error']}", markup=False)
    for step in row["trace"]:
        console.print(
            f"  {step['path']} [{step['type']}] {step['duration_us']} us, "
            f"{step['documents_in']} in -> {step['documents_out']} out"
            + (f"  error: {step['error']}" if step["error"] else ""),
            highlight=False,
            markup=False,
        )
        for label in ("inputs", "outputs"):
            for document in step.get(label, ()):
                text = document.get("text", document.get("base64", ""))
                cut = " (truncated)" if document["truncated"] else ""
                console.print(f"      {label[:-1]}: {text}{cut}", highlight=False, markup=False)


@callbacks_app.callback(invoke_without_command=True)
@gateway_command
def callbacks_list(
    gateway: Gateway,
    ctx: typer.Context,
    state: Annotated[CallbackState | None, typer.Option(help="Only this state.")] = None,
    runtime: AnyRuntime = None,
) -> None:
    """List callbacks, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with gateway.client() as client:
        rows = client.callbacks(state.value if state else None, runtime)
    table = Table(
        "state", "kind", "runtime", "action", "attempts", "created (UTC)", "uri", "last error"
    )
    table.columns.insert(0, _id_column("callback", rows))
    for row in rows:
        table.add_row(
            row["id"],
            row["state"],
            row["kind"],
            row["runtime"],
            row["action"],
            str(row["attempts"]),
            timestamp(row.get("created_at")),
            row["callback_uri"],
            row["last_error"][:80],
        )
    console.print(table)


@callbacks_app.command("redeliver")
@gateway_command
def callbacks_redeliver(
    gateway: Gateway,
    callback_id: Annotated[str, typer.Argument(help="Callback id (the execution id)")],
) -> None:
    """Send a dead-lettered (or delivered) callback again, from its first attempt."""
    with gateway.client() as client:
        client.redeliver(callback_id)
    console.print(f"callback {callback_id} queued for redelivery")
