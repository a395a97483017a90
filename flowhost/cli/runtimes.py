"""`flowhost runtimes add|label|list|remove`: the runtimes users, packages and executors join,
and the labels `flowhost deploy --where` selects them by."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from flowhost.cli.shared import Gateway, console, fail, gateway_command, timestamp

app = typer.Typer(
    help="Runtimes: create one before adding its users; remove one that is no longer used.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Runtime name")]


@app.command("add")
@gateway_command
def add(
    gateway: Gateway,
    name: Name,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="A label key=value (repeatable), e.g. tier=prod."),
    ] = None,
) -> None:
    """Create a runtime (nothing changes when it exists already), with labels."""
    with gateway.client() as client:
        answer = client.add_runtime(name, label or [])
    console.print(
        f"runtime {name} {'created' if answer['created'] else 'exists already'}"
        + (f"; labels {_shown(answer['labels'])}" if answer.get("labels") else ""),
        highlight=False,
    )


@app.command("label")
@gateway_command
def label(
    gateway: Gateway,
    name: Name,
    changes: Annotated[list[str], typer.Argument(help="key=value sets a label, key- removes it")],
) -> None:
    """Set and remove labels of a runtime: `flowhost runtimes label eu customer=acme tier-`."""
    set_labels: dict[str, str] = {}
    remove: list[str] = []
    for change in changes:
        key, equals, value = change.partition("=")
        if equals:
            set_labels[key] = value
        elif change.endswith("-") and len(change) > 1:
            remove.append(change[:-1])
        else:
            fail(f"{change!r} is neither key=value (set) nor key- (remove)")
    with gateway.client() as client:
        answer = client.label_runtime(name, set_labels, remove)
    console.print(f"runtime {name}: labels {_shown(answer['labels']) or '(none)'}", highlight=False)


def _shown(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


@app.command("list")
@gateway_command
def list_runtimes(gateway: Gateway) -> None:
    """List runtimes: when created, their users, ready executors and services."""
    with gateway.client() as client:
        rows = client.runtimes()
    table = Table("runtime", "labels", "created (UTC)", "users", "ready executors", "services")
    for row in rows:
        created = row.get("created_at")
        table.add_row(
            row["name"],
            _shown(row.get("labels") or {}),
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
