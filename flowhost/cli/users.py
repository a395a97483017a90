"""`flowhost users`: the runtime users a Flow connector logs in as, and their access rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flowhost.cli.shared import (
    AnyRuntime,
    Gateway,
    Runtime,
    console,
    fail,
    gateway_command,
    timestamp,
)
from flowhost.client import ApiError, certificate_fingerprint

app = typer.Typer(
    help="Runtime users: the name and token a Flow connector uses.", no_args_is_help=True
)

ClientCert = Annotated[
    Path | None,
    typer.Option(
        help="Bind the user to this client certificate (PEM or DER; its SHA-256 is kept): "
        "a request presenting it is this user."
    ),
]
AllowIp = Annotated[
    list[str] | None,
    typer.Option(help="Allow calls only from this network (CIDR or address); repeatable."),
]
Service = Annotated[
    list[str] | None,
    typer.Option(help="Allow only this service path (as in /fs/<path>); repeatable."),
]


def _fingerprint(path: Path | None) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        fail(f"no such file: {path}")
    return certificate_fingerprint(path)


def _print_access(access: dict[str, Any]) -> None:
    cert = access["client_cert_sha256"]
    console.print(
        f"user {access['name']}: client certificate "
        f"{'sha256 ' + cert if cert else 'none'}; from "
        f"{', '.join(access['allow_ips']) or 'any address'}; services "
        f"{', '.join(access['services']) or 'all of its runtime'}",
        highlight=False,
        markup=False,
    )


@app.command("add")
@gateway_command
def add(
    gateway: Gateway,
    name: Annotated[str, typer.Argument(help="User name (unique across the gateway)")],
    runtime: Runtime = "default",
    save: Annotated[
        Path | None,
        typer.Option(help="Also write the name and token to this JSON file (mode 600)."),
    ] = None,
    client_cert: ClientCert = None,
    allow_ip: AllowIp = None,
    service: Service = None,
) -> None:
    """Create a runtime user and print its token (shown once; only a hash is kept)."""
    fingerprint = _fingerprint(client_cert)
    with gateway.client() as client:
        created = client.add_user(runtime, name)
        if fingerprint or allow_ip or service:
            try:
                access = client.set_access(
                    name, client_cert_sha256=fingerprint, allow_ips=allow_ip, services=service
                )
            except ApiError as error:
                client.remove_user(name)  # no user without the restrictions asked for
                fail(f"{error.message} (HTTP {error.status}); user {name} was not created")
            _print_access(access)
    if save is not None:
        save.touch(mode=0o600)
        save.write_text(json.dumps({"name": created["name"], "token": created["token"]}))
    console.print(f"user {created['name']} in runtime {created['runtime']}", highlight=False)
    console.print(f"token: {created['token']}", highlight=False)


@app.command("restrict")
@gateway_command
def restrict(
    gateway: Gateway,
    name: Annotated[str, typer.Argument()],
    client_cert: ClientCert = None,
    no_client_cert: Annotated[
        bool, typer.Option("--no-client-cert", help="Unbind the client certificate.")
    ] = False,
    allow_ip: AllowIp = None,
    any_ip: Annotated[bool, typer.Option("--any-ip", help="Drop the IP allow-list.")] = False,
    service: Service = None,
    any_service: Annotated[
        bool, typer.Option("--any-service", help="Drop the service restriction.")
    ] = False,
) -> None:
    """Bind a user to a client certificate, or restrict it to networks and services.

    Options given replace what they name; the rest is kept. Without options, show the rules.
    """
    for given, cleared, what in (
        (client_cert, no_client_cert, "--client-cert and --no-client-cert"),
        (allow_ip, any_ip, "--allow-ip and --any-ip"),
        (service, any_service, "--service and --any-service"),
    ):
        if given and cleared:
            fail(f"{what} contradict each other")
    fingerprint = "" if no_client_cert else _fingerprint(client_cert)
    with gateway.client() as client:
        if fingerprint is None and not (allow_ip or any_ip or service or any_service):
            access = client.access(name)
        else:
            access = client.set_access(
                name,
                client_cert_sha256=fingerprint,
                allow_ips=[] if any_ip else allow_ip,
                services=[] if any_service else service,
            )
    _print_access(access)


@app.command("list")
@gateway_command
def list_users(gateway: Gateway, runtime: AnyRuntime = None) -> None:
    """List runtime users."""
    with gateway.client() as client:
        rows = client.users(runtime)
    table = Table("user", "runtime", "created (UTC)")
    for row in rows:
        table.add_row(row["name"], row["runtime"], timestamp(row["created_at"]))
    console.print(table)


@app.command("rotate")
@gateway_command
def rotate(gateway: Gateway, name: Annotated[str, typer.Argument()]) -> None:
    """Issue a new token for a user; the old one stops working."""
    with gateway.client() as client:
        created = client.rotate_token(name)
    console.print(f"token: {created['token']}", highlight=False)


@app.command("remove")
@gateway_command
def remove(gateway: Gateway, name: Annotated[str, typer.Argument()]) -> None:
    """Remove a runtime user."""
    with gateway.client() as client:
        client.remove_user(name)
    console.print(f"user {name} removed")
