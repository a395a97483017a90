"""`flowhost deploy|versions|rollback|promote|abort|undeploy|status`: a runtime's packages and
what serves them.

These stay top-level commands (`flowhost deploy`, not `flowhost packages deploy`): they are the
ones typed most, and every script and compose file spells them so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flowhost.cli.shared import (
    Gateway,
    Runtime,
    console,
    errors,
    fail,
    gateway_command,
    timestamp,
)
from flowhost.cli.testing import run_package_tests, summary

app = typer.Typer()

PackageName = Annotated[str, typer.Argument(help="Package name")]


@app.command()
@gateway_command
def deploy(
    gateway: Gateway,
    file: Annotated[Path, typer.Argument(help="package.yaml, or a folder holding one")],
    runtime: Annotated[
        list[str] | None,
        typer.Option("--runtime", "-r", help="A runtime (repeatable; default: default)."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Runtimes whose labels match key=value (repeatable, AND)."),
    ] = None,
    canary: Annotated[
        int | None,
        typer.Option("--canary", min=1, max=99, help="Deploy as the canary taking this percent."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse a package with warnings.")
    ] = False,
    test: Annotated[
        bool,
        typer.Option("--test", help="Run the package's tests first; refuse it if one fails."),
    ] = False,
) -> None:
    """Validate and deploy a package to a runtime, or to many (--runtime repeated, --where),
    or as a canary beside the active version (--canary PERCENT)."""
    path = file / "package.yaml" if file.is_dir() else file
    if not path.is_file():
        fail(f"no package at {path}")
    if test:
        verdict, passed = summary(run_package_tests([path]))
        if not passed:
            fail(f"{verdict}: the package's tests must pass (--test); nothing deployed")
        console.print(verdict, highlight=False)
    runtimes = runtime or ([] if where else ["default"])
    if len(runtimes) > 1 or where or canary is not None:
        _deploy_many(gateway, path.read_text(), runtimes, where or [], canary, dry_run, strict)
        return
    (target,) = runtimes
    with gateway.client() as client:
        result = client.deploy(target, path.read_text(), dry_run, strict)
    _warn(result)
    if dry_run:
        console.print(f"{result['name']} {result['version']} is valid (dry run, nothing deployed)")
        return
    state = "deployed" if result["created"] else "already deployed; activated"
    hosts = len(result["executors"])
    console.print(
        f"{result['name']} {result['version']} {state} to runtime {target} "
        f"(/fs/{result['service_path']}, on {hosts} executor{'s' if hosts != 1 else ''})",
        highlight=False,
    )


def _warn(result: dict[str, Any]) -> None:
    for warning in result.get("warnings", ()):
        errors.print(
            f"warning: {warning['path']}: {warning['message']}", highlight=False, markup=False
        )


def _deploy_many(
    gateway: Gateway,
    source: str,
    runtimes: list[str],
    where: list[str],
    canary: int | None,
    dry_run: bool,
    strict: bool,
) -> None:
    """One call for every runtime; a summary table; exit 1 when any runtime failed."""
    with gateway.client() as client:
        result = client.deploy_many(source, runtimes, where, canary, dry_run, strict)
    as_canary = f" as the canary ({canary}% of new executions)" if canary is not None else ""
    table = Table("runtime", "version", "result", "executors", "reason")
    for row in result["results"]:
        failed = row["result"] == "failed"
        table.add_row(
            row["runtime"],
            row["version"],
            f"[red]{row['result']}[/red]" if failed else row["result"],
            "" if failed or dry_run else str(len(row["executors"])),
            row["reason"],
        )
    console.print(
        f"{result['name']} {result['version']} (/fs/{result['service_path']}){as_canary}"
        + (" — dry run, nothing deployed" if dry_run else ""),
        highlight=False,
    )
    console.print(table)
    if result["failed"]:
        fail(f"{result['failed']} of {len(result['results'])} runtimes failed")


@app.command()
@gateway_command
def versions(
    gateway: Gateway,
    name: Annotated[str | None, typer.Argument(help="Package name")] = None,
    runtime: Runtime = "default",
) -> None:
    """List the package versions of a runtime."""
    with gateway.client() as client:
        rows = client.versions(runtime, name)
    table = Table("package", "version", "active", "created (UTC)", "digest")
    for row in rows:
        canary = row.get("canary_percent")
        table.add_row(
            row["name"],
            row["version"],
            "yes" if row["active"] else (f"canary {canary}%" if canary else ""),
            timestamp(row["created_at"]),
            row["digest"][:12],
        )
    console.print(table)


@app.command()
@gateway_command
def rollback(
    gateway: Gateway,
    name: PackageName,
    version: Annotated[
        str | None, typer.Option(help="Version to activate (default: previous)")
    ] = None,
    runtime: Runtime = "default",
) -> None:
    """Activate an earlier version of a package."""
    with gateway.client() as client:
        result = client.rollback(runtime, name, version)
    console.print(f"{name} is now at {result['active_version']} in runtime {runtime}")


@app.command()
@gateway_command
def promote(gateway: Gateway, name: PackageName, runtime: Runtime = "default") -> None:
    """Make a package's canary its active version."""
    with gateway.client() as client:
        result = client.promote(runtime, name)
    console.print(f"{name} is now at {result['active_version']} in runtime {runtime}")


@app.command()
@gateway_command
def abort(gateway: Gateway, name: PackageName, runtime: Runtime = "default") -> None:
    """Drop a package's canary; WAITs started on it still finish on it."""
    with gateway.client() as client:
        result = client.abort(runtime, name)
    console.print(
        f"canary {name} {result['version']} aborted in runtime {runtime}; "
        f"{result['active_version']} takes every new execution",
        highlight=False,
    )


@app.command()
@gateway_command
def undeploy(gateway: Gateway, name: PackageName, runtime: Runtime = "default") -> None:
    """Stop serving a package in a runtime (its versions are kept)."""
    with gateway.client() as client:
        client.undeploy(runtime, name)
    console.print(f"{name} undeployed from runtime {runtime}")


@app.command()
@gateway_command
def status(gateway: Gateway) -> None:
    """Runtimes, executors (ready or not), deployed services and their triggers."""
    with gateway.client() as client:
        state = client.status()
        triggers = client.triggers()
    runtimes = Table("runtime", "ready executors", "service", "package", "actions")
    for runtime in state["runtimes"]:
        services = runtime["services"] or [None]
        for service in services:
            runtimes.add_row(
                runtime["name"],
                str(runtime["ready_executors"]),
                f"/fs/{service['path']}" if service else "-",
                f"{service['package']} {service['version']}" if service else "-",
                ", ".join(service["actions"]) if service else "",
            )
    console.print(runtimes)
    versions = Table("runtime", "service", "version", "role", "share", "requests", "errors")
    for runtime in state["runtimes"]:
        for service in runtime["services"]:
            for v in service.get("versions", ()):
                versions.add_row(
                    runtime["name"],
                    f"/fs/{service['path']}",
                    v["version"],
                    v["role"],
                    f"{v['percent']}%",
                    str(v["requests"]),
                    f"[red]{v['errors']}[/red]" if v["errors"] else "0",
                )
    if versions.row_count:
        console.print(versions)
    admission = Table("runtime", "requests in flight", "queued", "past WAIT", "refused")
    for runtime in state["runtimes"]:
        counts = runtime.get("admission") or {}
        refused = counts.get("refused") or {}
        if any(counts.get(k) for k in ("in_flight", "queued", "detached")) or refused:
            admission.add_row(
                runtime["name"],
                str(counts.get("in_flight", 0)),
                str(counts.get("queued", 0)),
                str(counts.get("detached", 0)),
                ", ".join(f"{n} ({limit})" for limit, n in sorted(refused.items())) or "0",
            )
    if admission.row_count:  # this gateway's admission (docs/operations.md "Admission limits")
        console.print(admission)
    executors = Table("executor", "runtime", "state", "deployments", "in flight", "stream")
    for e in state["executors"]:
        executors.add_row(
            e["address"],
            e["runtime"] or "?",
            "[green]ready[/green]" if e["ready"] else f"[red]not ready[/red] {e['problem']}",
            ", ".join(e["deployments"]),
            str(e["outstanding"]),
            e.get("stream") or "-",  # link, or grpc where the executor's link is out of reach
        )
    console.print(executors)
    if triggers:
        console.print(_triggers_table(triggers))


def _triggers_table(triggers: list[dict[str, Any]]) -> Table:
    """Counts and last fire are the answering gateway's own (each gateway counts its own)."""
    table = Table("runtime", "trigger", "kind", "state", "what", "fired", "errors", "last fire")
    for t in triggers:
        state = "[yellow]paused[/yellow]" if t["state"] == "paused" else "[green]active[/green]"
        if t["problem"]:
            state += f" [red]{t['problem']}[/red]"
        due = f", next {timestamp(t['next_due_at'])}" if t.get("next_due_at") else ""
        table.add_row(
            t["runtime"],
            f"{t['package']}/{t['name']}",
            t["kind"],
            state,
            f"{t['what']}{due}",
            str(t["fired"]),
            str(t["errors"]),
            timestamp(t["last_fired_at"]),
        )
    return table
