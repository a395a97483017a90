"""`flowhost up`: a whole cluster on this machine, its examples deployed, and how to use it."""

from __future__ import annotations

import os
import shlex
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from flowhost import examples as example_packages
from flowhost.cli import policy
from flowhost.cli.shared import DEFAULT_DATA_DIR, console, errors, fail
from flowhost.client import ApiError, admin_from
from flowhost.devcluster import Cluster, parse_runtimes


def up(
    executors: Annotated[
        int | None, typer.Option(help="Executors of runtime 'default' (without --runtime).")
    ] = None,
    runtime: Annotated[
        list[str] | None,
        typer.Option(
            "--runtime",
            help="NAME:COUNT, repeatable: start COUNT executors of runtime NAME (created), e.g. "
            "--runtime eu:2 --runtime us:1; the examples go to each. Default: default:2.",
        ),
    ] = None,
    http_port: Annotated[int, typer.Option(help="The gateway's HTTP port.")] = 8080,
    executor_port: Annotated[
        int | None,
        typer.Option(help="First executor's gRPC port (the others follow); default: free ones."),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(envvar="FLOWHOST_DATA_DIR", help="The cluster's data folder."),
    ] = DEFAULT_DATA_DIR,
    examples: Annotated[
        Path,
        typer.Option(help="Packages to deploy at start, each only if absent from the runtime."),
    ] = example_packages.FOLDER,
    mtls: Annotated[
        bool,
        typer.Option(
            "--mtls", help="Authenticate the executor link with a cluster CA and certificates."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this PEM certificate (FLOWHOST_TLS_CERT_FILE)."),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(help="The certificate's PEM key, unless it is in the certificate file."),
    ] = None,
) -> None:
    """Start a gateway, executors and the embedded store, deploy the examples; Ctrl-C stops all.

    The gateway and its executors share a cluster token (and with --mtls certificates) made in
    the data folder on first start; every port is checked free before anything starts."""
    if tls_key is not None and tls_cert is None:
        fail("--tls-key needs --tls-cert")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            fail(f"no such file: {path}")
    if runtime and executors is not None:
        fail("--executors counts runtime default's executors; with --runtime give NAME:COUNT")
    try:
        runtimes = parse_runtimes(runtime or [])
    except ValueError as error:
        fail(str(error))
    cluster = Cluster(
        data_dir=data_dir.resolve(),
        http_port=http_port,
        executors=2 if executors is None else executors,
        runtimes=runtimes,
        executor_port=executor_port,
        mtls=mtls,
        tls_cert=tls_cert.resolve() if tls_cert else None,
        tls_key=tls_key.resolve() if tls_key else None,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        cluster.start()
        cluster.wait_ready()
        if examples.is_dir():
            cluster.deploy_examples(examples)
        user, token = cluster.demo_user()
        admin_user, admin_password = admin_from(cluster.data_dir)
        _print_welcome(cluster, cluster.services(), user, token, admin_user, admin_password)
        cluster.supervise()
    except KeyboardInterrupt:
        console.print("stopping…")
    except (RuntimeError, ApiError) as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        cluster.stop()
        raise typer.Exit(1) from None
    cluster.stop()
    console.print("stopped")


def _print_welcome(
    cluster: Cluster,
    services: list[dict[str, Any]],
    user: str,
    token: str,
    admin_user: str,
    admin_password: str,
) -> None:
    url = cluster.url
    console.print(f"[bold green]flowhost is up[/bold green] at {url}  (data: {cluster.data_dir})")
    for service in services:
        console.print(
            f"  service [bold]{service['package']}[/bold] {service['version']}: "
            f"Flow service URL {url}/fs/{service['path']}",
            highlight=False,
        )
    count = cluster.runtimes[cluster.runtime]
    several = (
        f" of runtime {cluster.runtime} ({count} executor{'s' if count > 1 else ''})"
        if len(cluster.runtimes) > 1
        else ""
    )
    console.print(f"  runtime user{several}: {user}  token: {token}", highlight=False)
    with cluster.client() as client:
        for name in cluster.runtimes:
            note = policy.development_note(client, name)
            if note:
                console.print(note, highlight=False, markup=False)
    _print_other_runtimes(cluster)
    if cluster.link is not None:
        mode = "mTLS and a cluster token" if cluster.link.ca is not None else "a cluster token"
        console.print(
            f"  executor link: {mode}, in {cluster.link.token.parent} (executors on "
            + ", ".join(c.env["FLOWHOST_EXECUTOR_PORT"] for c in cluster.children[:-1])
            + ")",
            highlight=False,
        )
    console.print(
        f"  admin (management API, {url}/docs): {admin_user} / {admin_password}", highlight=False
    )
    console.print("  for the other commands (flowhost status, deploy, users, ...):")
    console.print(f"    {exports(cluster)}", highlight=False, markup=False, soft_wrap=True)
    quote = next((s for s in services if "quote" in s["actions"]), None)
    cacert = f" --cacert {cluster.tls_cert}" if cluster.tls_cert else ""
    if quote:
        console.print("  try it:", highlight=False)
        console.print(
            f"    curl -s{cacert} -u {user}:{token} -H 'content-type: application/json' "
            f"{url}/fs/{quote['path']}/actions/quote -d "
            '\'{"inputs": [{"developerName": "sku", "contentType": "ContentString", '
            '"contentValue": "ab-100"}, {"developerName": "quantity", "contentType": '
            '"ContentNumber", "contentValue": "3"}, {"developerName": "unitPrice", '
            '"contentType": "ContentNumber", "contentValue": "12.5"}]}\'',
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    console.print("Ctrl-C stops everything.")


def _print_other_runtimes(cluster: Cluster) -> None:
    """After the banner of the first runtime: each other runtime, its executors and a user."""
    others = list(cluster.runtimes.items())[1:]
    if not others:
        return
    console.print("other runtimes (their users call the same URLs; the user selects the runtime):")
    for name, count in others:
        user, token = cluster.demo_user(name)
        services = ", ".join(f"{s['package']} {s['version']}" for s in cluster.services(name))
        console.print(
            f"  runtime [bold]{name}[/bold]: {count} executor{'s' if count > 1 else ''}; "
            f"services: {services or '-'}; runtime user: {user}  token: {token}",
            highlight=False,
        )


def exports(cluster: Cluster) -> str:
    """The shell line that points the other commands at this cluster."""
    names = {"FLOWHOST_URL": cluster.url, "FLOWHOST_DATA_DIR": str(cluster.data_dir)}
    if cluster.tls_cert is not None and not os.environ.get("FLOWHOST_TLS_CA_FILE"):
        names["FLOWHOST_TLS_CA_FILE"] = str(cluster.tls_cert)  # the certificate `up` serves
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in names.items())
