"""`flowhost listeners [--runtime R]`, `flowhost listeners pause|resume SERVICE_PATH -r R`.

Boomi's Listeners panel on the command line: every deployed service with its versions, what it
offers, whether it is paused, and the traffic the gateway asked saw.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from flowhost.cli.shared import AnyRuntime, Gateway, Runtime, console, gateway_command

app = typer.Typer(
    help="Listeners: each deployed service of a runtime, paused or serving, with its traffic. "
    "`flowhost listeners` lists; `flowhost listeners pause SERVICE_PATH -r R` makes Flow calls "
    "answer 503 listener_paused (running executions finish); `resume` serves them again.",
    invoke_without_command=True,
)
ServicePath = Annotated[str, typer.Argument(help="The service path, as in /fs/<path>.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


def _state(row: dict[str, Any]) -> str:
    if not row["paused"]:
        return "serving"
    return "paused" + (f": {row['reason']}" if row["reason"] else "")


def table(rows: list[dict[str, Any]]) -> Table:
    """The listing as `flowhost listeners` prints it."""
    shown = Table(
        "runtime",
        "service",
        "package",
        "active",
        "other versions",
        "actions",
        "data types",
        "files",
        "state",
        "req/s",
        "requests",
        "errors",
    )
    for row in rows:
        shown.add_row(
            row["runtime"],
            _shown(row),
            row["package"] or "(not deployed)",
            row["active_version"] or "-",
            ", ".join(row["other_versions"]) or "-",
            str(row["actions"]),
            str(row["data_types"]),
            str(row["file_resources"]),
            _state(row),
            f"{row['requests_per_s']:.1f}",
            str(row["requests"]),
            f"{row['errors']} ({row['server_errors']} 5xx)",
        )
    return shown


@app.callback()
@gateway_command
def listeners(
    gateway: Gateway,
    ctx: typer.Context,
    runtime: AnyRuntime = None,
    as_json: AsJson = False,
) -> None:
    """List the listeners (traffic counted by the gateway asked, since it started)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = gateway.request("GET", "/api/listeners", params={"runtime": runtime} if runtime else {})
    if as_json:
        console.print_json(data=rows)
    elif not rows:
        console.print("no services deployed" + (f" in runtime {runtime}" if runtime else ""))
    else:
        console.print(table(rows))


def _shown(row: dict[str, Any]) -> str:
    """A service as Flow calls it; a trigger (`<service>#<name>`) with its kind."""
    kind = row.get("kind", "service")
    return f"/fs/{row['service']}" if kind == "service" else f"{row['service']} ({kind} trigger)"


def _said(row: dict[str, Any]) -> str:
    where = f"{_shown(row)} in runtime {row['runtime']}"
    if row["paused"] and row.get("kind", "service") != "service":
        return (
            f"{where} is paused: webhooks get 503 listener_paused, schedules do not fire, "
            "subscriptions stop consuming"
        )
    if row["paused"]:
        wait = row["retry_after_s"]
        return f"{where} is paused: Flow calls get 503 listener_paused (Retry-After {wait} s)"
    return f"{where} is serving"


@app.command()
@gateway_command
def pause(
    gateway: Gateway,
    service: ServicePath,
    runtime: Runtime = "default",
    reason: Annotated[str, typer.Option(help="Told to Flow in the 503's message.")] = "",
    retry_after: Annotated[
        int, typer.Option(help="Seconds the 503's Retry-After header tells Flow to wait.")
    ] = 30,
) -> None:
    """Pause a service: Flow calls are refused and nothing runs; running executions finish."""
    body = {"runtime": runtime, "service": service, "reason": reason, "retry_after_s": retry_after}
    row = gateway.request("POST", "/api/listeners/pause", json=body)
    console.print(_said(row), highlight=False, markup=False)


@app.command()
@gateway_command
def resume(
    gateway: Gateway,
    service: ServicePath,
    runtime: Runtime = "default",
) -> None:
    """Resume a paused service: Flow calls are served again."""
    body = {"runtime": runtime, "service": service}
    row = gateway.request("POST", "/api/listeners/resume", json=body)
    console.print(_said(row), highlight=False, markup=False)
