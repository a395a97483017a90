"""`flowhost listeners [--runtime R]`, `flowhost listeners pause|resume SERVICE_PATH -r R`.

Boomi's Listeners panel on the command line: every deployed service with its versions, what it
offers, whether it is paused, and the traffic the gateway asked saw.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cli.client import ApiError, ManagementClient, admin_from

app = typer.Typer(
    help="Listeners: each deployed service of a runtime, paused or serving, with its traffic. "
    "`flowhost listeners` lists; `flowhost listeners pause SERVICE_PATH -r R` makes Flow calls "
    "answer 503 listener_paused (running executions finish); `resume` serves them again.",
    invoke_without_command=True,
)
# Whole rows when piped (rich would fit them into 80 columns), as cli/main.py does.
_PIPED = not sys.stdout.isatty() and "COLUMNS" not in os.environ
console = Console(soft_wrap=True, width=200 if _PIPED else None)
errors = Console(stderr=True)

# The CLI's common options, as cli/main.py spells them (importing them from there would make
# an import circle: main registers this sub-app).
Url = Annotated[str, typer.Option(envvar="FLOWHOST_URL", help="The gateway's base URL.")]
DataDir = Annotated[
    Path,
    typer.Option(
        envvar="FLOWHOST_DATA_DIR", help="The gateway's data folder (admin credentials live there)."
    ),
]
Runtime = Annotated[str, typer.Option("--runtime", "-r", help="The runtime.")]
ServicePath = Annotated[str, typer.Argument(help="The service path, as in /fs/<path>.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def _request(url: str, data_dir: Path, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with ManagementClient(url, admin_from(data_dir)) as client:
            return client.request(method, path, **kwargs)
    except ApiError as error:
        _fail(error.message + (f" (HTTP {error.status})" if error.status else ""))


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
            f"/fs/{row['service']}",
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
def listeners(
    ctx: typer.Context,
    runtime: Annotated[
        str | None, typer.Option("--runtime", "-r", help="Only this runtime.")
    ] = None,
    as_json: AsJson = False,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """List the listeners (traffic counted by the gateway asked, since it started)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _request(
        url, data_dir, "GET", "/api/listeners", params={"runtime": runtime} if runtime else {}
    )
    if as_json:
        console.print_json(data=rows)
    elif not rows:
        console.print("no services deployed" + (f" in runtime {runtime}" if runtime else ""))
    else:
        console.print(table(rows))


def _said(row: dict[str, Any]) -> str:
    where = f"/fs/{row['service']} in runtime {row['runtime']}"
    if row["paused"]:
        wait = row["retry_after_s"]
        return f"{where} is paused: Flow calls get 503 listener_paused (Retry-After {wait} s)"
    return f"{where} is serving"


@app.command()
def pause(
    service: ServicePath,
    runtime: Runtime = "default",
    reason: Annotated[str, typer.Option(help="Told to Flow in the 503's message.")] = "",
    retry_after: Annotated[
        int, typer.Option(help="Seconds the 503's Retry-After header tells Flow to wait.")
    ] = 30,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Pause a service: Flow calls are refused and nothing runs; running executions finish."""
    body = {"runtime": runtime, "service": service, "reason": reason, "retry_after_s": retry_after}
    row = _request(url, data_dir, "POST", "/api/listeners/pause", json=body)
    console.print(_said(row), highlight=False, markup=False)


@app.command()
def resume(
    service: ServicePath,
    runtime: Runtime = "default",
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Resume a paused service: Flow calls are served again."""
    body = {"runtime": runtime, "service": service}
    row = _request(url, data_dir, "POST", "/api/listeners/resume", json=body)
    console.print(_said(row), highlight=False, markup=False)
