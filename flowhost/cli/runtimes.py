"""`flowhost runtimes add|list|remove`: the runtimes users, packages and executors join."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from flowhost.cli.shared import Gateway, console, gateway_command, timestamp

app = typer.Typer(
    help="Runtimes: create one before adding its users; remove one that is no longer used.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Runtime name")]


@app.command("add")
@gateway_command
def add(gateway: Gateway, name: Name) -> None:
    """Create a runtime (nothing changes when it exists already)."""
    with gateway.client() as client:
        answer = client.add_runtime(name)
    console.print(
        f"runtime {name} {'created' if answer['created'] else 'exists already'}", highlight=False
    )


@app.command("list")
@gateway_command
def list_runtimes(gateway: Gateway) -> None:
    """List runtimes: when created, their users, ready executors and services."""
    with gateway.client() as client:
        rows = client.runtimes()
    table = Table("runtime", "created (UTC)", "users", "ready executors", "services")
    for row in rows:
        created = row.get("created_at")
        table.add_row(
            row["name"],
            timestamp(created) if created else "(not created: only executors name it)",
            str(row.get("users", 0)),
            str(row["ready_executors"]),
            ", ".join(f"/fs/{s['path']}" for s in row["services"]) or "-",
        )
    console.print(table)


@app.command("remove")
@gateway_command
def remove(
    gateway: Gateway,
    name: Name,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also remove its users and undeploy its packages."),
    ] = False,
) -> None:
    """Remove a runtime with its stored versions, configuration values and policy.

    Refused while it has users or an active deployment, unless --force."""
    with gateway.client() as client:
        client.remove_runtime(name, force)
    console.print(f"runtime {name} removed", highlight=False)
