"""`flowhost policy show|set|reset --runtime R`: what a runtime's processes may touch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowhost.cli.shared import Gateway, Runtime, console, fail, gateway_command
from flowhost.client import ManagementClient

app = typer.Typer(
    help="Runtime policies: the files root, databases, hosts and limits a runtime's processes "
    "may use. `flowhost policy show -r R`, `flowhost policy set -r R --allow-loopback`.",
    no_args_is_help=True,
)
LIMITS = ("documents_per_step", "document_bytes", "execution_bytes", "split_fanout")


def describe(answer: dict[str, Any]) -> list[str]:
    """A policy answer as the lines `show` prints."""
    policy = answer["policy"]
    origin = "set by the operator" if answer["stored"] else "the default (none set)"
    lines = [
        f"runtime {answer['runtime']}: policy {answer['digest']}, {origin}",
        f"  files root:     {policy['files_root'] or '(executor default: files/<runtime>)'}",
        "  databases:      SQLite in the files root"
        + "".join(f", {u}" for u in policy["database_urls"]),
        "  egress:         "
        + (", ".join(policy["egress_allow"]) or "any public address")
        + "; link-local always refused",
        f"  loopback:       {'allowed' if policy['allow_loopback'] else 'refused'}",
        f"  private nets:   {'allowed' if policy['allow_private'] else 'refused'}",
        "  limits:         " + ", ".join(f"{name}={policy['limits'][name]}" for name in LIMITS),
    ]
    for executor in answer["executors"]:
        state = "holds it" if executor["applied"] else f"holds {executor['digest'] or 'none'}"
        lines.append(f"  executor {executor['address']}: {state}")
    return lines


@app.command()
@gateway_command
def show(
    gateway: Gateway,
    runtime: Runtime = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Show a runtime's policy and which executors hold it."""
    answer = gateway.request("GET", f"/api/runtimes/{runtime}/policy")
    if as_json:
        console.print_json(data=answer)
        return
    for line in describe(answer):
        console.print(line, highlight=False, markup=False)


@app.command("set")
@gateway_command
def set_policy(
    gateway: Gateway,
    runtime: Runtime = "default",
    files_root: Annotated[
        str | None, typer.Option(help="Absolute root folder of the file step ('' for default).")
    ] = None,
    database_url: Annotated[
        list[str] | None,
        typer.Option(help="A database URL db steps may open (repeat; replaces the list)."),
    ] = None,
    no_database_urls: Annotated[
        bool, typer.Option("--no-database-urls", help="Only SQLite in the files root.")
    ] = False,
    egress: Annotated[
        list[str] | None,
        typer.Option(help="A host, *.domain or CIDR http steps may reach (repeat; replaces)."),
    ] = None,
    any_egress: Annotated[
        bool, typer.Option("--any-egress", help="Empty the egress list: any public address.")
    ] = False,
    allow_loopback: Annotated[
        bool | None, typer.Option("--allow-loopback/--no-allow-loopback")
    ] = None,
    allow_private: Annotated[
        bool | None, typer.Option("--allow-private/--no-allow-private")
    ] = None,
    limit: Annotated[
        list[str] | None,
        typer.Option(help=f"NAME=VALUE, NAME one of {', '.join(LIMITS)} (repeat)."),
    ] = None,
) -> None:
    """Change a runtime's policy: options given replace those fields, the rest stay."""
    current = gateway.request("GET", f"/api/runtimes/{runtime}/policy")["policy"]
    if files_root is not None:
        current["files_root"] = files_root
    if database_url or no_database_urls:
        current["database_urls"] = list(database_url or [])
    if egress or any_egress:
        current["egress_allow"] = list(egress or [])
    if allow_loopback is not None:
        current["allow_loopback"] = allow_loopback
    if allow_private is not None:
        current["allow_private"] = allow_private
    for item in limit or []:
        name, _, value = item.partition("=")
        if name not in LIMITS or not value.isdigit():
            fail(f"--limit {item!r}: expected NAME=NUMBER, NAME one of {', '.join(LIMITS)}")
        current["limits"][name] = int(value)
    answer = gateway.request("PUT", f"/api/runtimes/{runtime}/policy", json=current)
    for line in describe(answer):
        console.print(line, highlight=False, markup=False)


@app.command()
@gateway_command
def reset(
    gateway: Gateway,
    runtime: Runtime = "default",
) -> None:
    """Forget a runtime's policy: the default applies again."""
    answer = gateway.request("DELETE", f"/api/runtimes/{runtime}/policy")
    for line in describe(answer):
        console.print(line, highlight=False, markup=False)


def development_note(client: ManagementClient, runtime: str) -> str | None:
    """What `flowhost up` says about its runtime's policy when it allows loopback."""
    answer = client.request("GET", f"/api/runtimes/{runtime}/policy")
    if not answer["policy"]["allow_loopback"]:
        return None
    return (
        f"  runtime {runtime} may reach loopback (127.0.0.1, ::1) from http steps and callbacks: "
        f"a development default; `flowhost policy set -r {runtime} --no-allow-loopback` "
        "refuses it"
    )
