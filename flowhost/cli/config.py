"""`flowhost config`: the configuration values a runtime's operator sets.

Secret values are best given on stdin or in a file (`--file`), so they never land in shell
history; `flowhost config list` shows them as set, never their value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Table

from flowhost.cli.shared import Gateway, Runtime, console, fail, gateway_command

Tenant = Annotated[
    str,
    typer.Option(
        "--tenant",
        "-t",
        help="A Flow tenant id: the value applies to that tenant's requests only, overriding "
        "the runtime's.",
    ),
]

app = typer.Typer(
    help="Operator configuration: values of the runtime's packages, per runtime or Flow tenant.",
    no_args_is_help=True,
)


def _path(runtime: str, name: str = "") -> str:
    base = f"/api/runtimes/{quote(runtime, safe='')}/config"
    return f"{base}/{quote(name, safe='')}" if name else base


def _read_value(value: str | None, file: Path | None) -> str:
    if file is not None:
        if value is not None:
            fail("give the value as an argument or with --file, not both")
        try:
            text = file.read_text()
        except OSError as error:
            fail(f"cannot read {file}: {error}")
        return text.removesuffix("\n")
    if value is not None and value != "-":
        return value
    if sys.stdin.isatty():
        return str(typer.prompt("value", hide_input=True))
    return sys.stdin.read().removesuffix("\n")


@app.command("set")
@gateway_command
def set_value(
    gateway: Gateway,
    name: Annotated[str, typer.Argument(help="The configuration value's name.")],
    value: Annotated[
        str | None,
        typer.Argument(help="The value; omit it or give - to read stdin (prompted on a tty)."),
    ] = None,
    runtime: Runtime = "default",
    tenant: Tenant = "",
    secret: Annotated[
        bool, typer.Option("--secret", help="Encrypt it at rest and never show it again.")
    ] = False,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the value from this file.")
    ] = None,
) -> None:
    """Set a configuration value; processes see it as $config.NAME from the next request on."""
    text = _read_value(value, file)
    params = {"tenant": tenant} if tenant else None
    body = {"value": text, "secret": secret}
    answer = gateway.request("PUT", _path(runtime, name), json=body, params=params)
    where = f"tenant {tenant} of runtime {runtime}" if tenant else f"runtime {runtime}"
    kind = " (secret)" if answer["secret"] else ""
    console.print(f"{name} set for {where}{kind}", highlight=False, markup=False)


@app.command("unset")
@gateway_command
def unset_value(
    gateway: Gateway,
    name: Annotated[str, typer.Argument(help="The configuration value's name.")],
    runtime: Runtime = "default",
    tenant: Tenant = "",
) -> None:
    """Remove a configuration value: the package default (or the runtime's value) applies."""
    params = {"tenant": tenant} if tenant else None
    gateway.request("DELETE", _path(runtime, name), params=params)
    console.print(f"{name} unset", highlight=False, markup=False)


@app.command("list")
@gateway_command
def list_values(
    gateway: Gateway,
    runtime: Runtime = "default",
) -> None:
    """List a runtime's configuration values; secret ones show as set, never their value."""
    rows = gateway.request("GET", _path(runtime))
    table = Table("name", "tenant", "value", "set by", "packages", "default")
    for row in rows:
        if not row["set"]:
            shown = "(not set)"
        elif row["secret"]:
            shown = "•••• (secret, set)"
        else:
            shown = row["value"]
        table.add_row(
            row["name"],
            row["tenant"] or "(all)",
            shown,
            row["set_by"] or "-",
            ", ".join(row["packages"]) or "-",
            row["default"],
        )
    console.print(table)


@app.command("rotate-key")
@gateway_command
def rotate_key(gateway: Gateway) -> None:
    """Re-encrypt every secret value under the gateway's first configuration key."""
    answer = gateway.request("POST", "/api/config/rotate-key")
    console.print(f"re-encrypted {answer['rotated']} secret values under the first key")


@app.command("new-key")
def new_key() -> None:
    """Print a new configuration key (for FLOWHOST_CONFIG_KEY or a key file); nothing is sent."""
    from cryptography.fernet import Fernet

    console.print(Fernet.generate_key().decode(), highlight=False)
