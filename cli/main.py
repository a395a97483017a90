"""flowhost: run a cluster, deploy packages, manage runtime users."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Column, Table

from cli import config, ops
from cli import policy as policy_cli
from cli.client import ApiError, ManagementClient, admin_from, certificate_fingerprint

app = typer.Typer(
    help="flowhost: a Flow Services Server cluster. `flowhost up` starts one on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Runtime users: the name and token a Flow connector uses.")
app.add_typer(users_app, name="users")
app.command()(ops.probe)
app.command()(ops.load)
app.command()(ops.soak)
executions_app = typer.Typer(
    help="Execution history: `flowhost executions` lists, `flowhost executions show ID` details."
)
app.add_typer(executions_app, name="executions")
callbacks_app = typer.Typer(
    help="Callbacks owed to Flow: `flowhost callbacks` lists, `redeliver ID` sends one again."
)
app.add_typer(callbacks_app, name="callbacks")
app.add_typer(config.app, name="config")
app.add_typer(policy_cli.app, name="policy")

# Tokens and curl lines must stay copyable; output piped to grep or a file gets whole table
# rows (rich would fit them into 80 columns) unless COLUMNS says otherwise.
_PIPED = not sys.stdout.isatty() and "COLUMNS" not in os.environ
console = Console(soft_wrap=True, width=200 if _PIPED else None)
errors = Console(stderr=True)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

Url = Annotated[
    str,
    typer.Option(envvar="FLOWHOST_URL", help="The gateway's base URL."),
]
DataDir = Annotated[
    Path,
    typer.Option(
        envvar="FLOWHOST_DATA_DIR", help="The gateway's data folder (admin credentials live there)."
    ),
]
Runtime = Annotated[str, typer.Option("--runtime", "-r", help="The runtime.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _client(url: str, data_dir: Path) -> ManagementClient:
    try:
        return ManagementClient(url, admin_from(data_dir))
    except ApiError as error:
        _fail(error.message)


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ApiError as error:
        issues = error.details.get("issues") if error.details else None
        if issues:
            what = "has warnings (--strict)" if error.details.get("strict") else "is invalid"
            errors.print(f"[red]error:[/red] the package {what}:", highlight=False)
            for issue in issues:
                errors.print(
                    f"  {issue['path']}: {issue['message']}", highlight=False, markup=False
                )
            raise typer.Exit(1) from None
        _fail(f"{error.message}" + (f" (HTTP {error.status})" if error.status else ""))


@app.command()
def up(
    executors: Annotated[int, typer.Option(help="Executors of runtime 'default'.")] = 2,
    http_port: Annotated[int, typer.Option(help="The gateway's HTTP port.")] = 8080,
    executor_port: Annotated[
        int | None,
        typer.Option(help="First executor's gRPC port (the others follow); default: free ones."),
    ] = None,
    data_dir: DataDir = Path(".flowhost"),
    examples: Annotated[Path, typer.Option(help="Packages to deploy at start.")] = EXAMPLES,
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
    from cli.up import Cluster

    if tls_key is not None and tls_cert is None:
        _fail("--tls-key needs --tls-cert")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            _fail(f"no such file: {path}")
    cluster = Cluster(
        data_dir=data_dir.resolve(),
        http_port=http_port,
        executors=executors,
        executor_port=executor_port,
        mtls=mtls,
        tls_cert=tls_cert.resolve() if tls_cert else None,
        tls_key=tls_key.resolve() if tls_key else None,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        cluster.start()
        cluster.wait_ready()
        deployed = cluster.deploy_examples(examples) if examples.is_dir() else []
        user, token = cluster.demo_user()
        admin_user, admin_password = admin_from(cluster.data_dir)
        _print_welcome(cluster.url, deployed, user, token, admin_user, admin_password, cluster)
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
    url: str,
    deployed: list[dict[str, Any]],
    user: str,
    token: str,
    admin_user: str,
    admin_password: str,
    cluster: Any,
) -> None:
    console.print(f"[bold green]flowhost is up[/bold green] at {url}  (data: {cluster.data_dir})")
    for package in deployed:
        console.print(
            f"  service [bold]{package['name']}[/bold] {package['version']}: "
            f"Flow service URL {url}/fs/{package['service_path']}",
            highlight=False,
        )
    console.print(f"  runtime user: {user}  token: {token}", highlight=False)
    with cluster.client() as client:
        note = policy_cli.development_note(client, cluster.runtime)
    if note:
        console.print(note, highlight=False, markup=False)
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
    quote = next((p for p in deployed if "quote" in p.get("actions", [])), None)
    cacert = f" --cacert {cluster.tls_cert}" if cluster.tls_cert else ""
    if quote:
        console.print("  try it:", highlight=False)
        console.print(
            f"    curl -s{cacert} -u {user}:{token} -H 'content-type: application/json' "
            f"{url}/fs/{quote['service_path']}/actions/quote -d "
            '\'{"inputs": [{"developerName": "sku", "contentType": "ContentString", '
            '"contentValue": "ab-100"}, {"developerName": "quantity", "contentType": '
            '"ContentNumber", "contentValue": "3"}, {"developerName": "unitPrice", '
            '"contentType": "ContentNumber", "contentValue": "12.5"}]}\'',
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    console.print("Ctrl-C stops everything.")


@app.command()
def gateway() -> None:
    """Run one gateway (configured by FLOWHOST_* settings); what a gateway container runs."""
    from gateway.__main__ import main

    main()


@app.command()
def executor(
    runtime: Annotated[str, typer.Option(help="The runtime this executor joins.")] = "default",
    port: Annotated[int, typer.Option(help="gRPC port.")] = 50051,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Run one executor of a runtime; what an executor container runs."""
    from executors.__main__ import main
    from executors.settings import ExecutorSettings

    main(ExecutorSettings(runtime=runtime, port=port, host=host))


@app.command()
def deploy(
    file: Annotated[Path, typer.Argument(help="package.yaml, or a folder holding one")],
    runtime: Runtime = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse a package with warnings.")
    ] = False,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Validate and deploy a package to a runtime."""
    path = file / "package.yaml" if file.is_dir() else file
    if not path.is_file():
        _fail(f"no package at {path}")
    with _client(url, data_dir) as client:
        result = _call(client.deploy, runtime, path.read_text(), dry_run, strict)
    for warning in result.get("warnings", ()):
        errors.print(
            f"warning: {warning['path']}: {warning['message']}", highlight=False, markup=False
        )
    if dry_run:
        console.print(f"{result['name']} {result['version']} is valid (dry run, nothing deployed)")
        return
    state = "deployed" if result["created"] else "already deployed; activated"
    hosts = len(result["executors"])
    console.print(
        f"{result['name']} {result['version']} {state} to runtime {runtime} "
        f"(/fs/{result['service_path']}, on {hosts} executor{'s' if hosts != 1 else ''})",
        highlight=False,
    )


@app.command()
def versions(
    name: Annotated[str | None, typer.Argument(help="Package name")] = None,
    runtime: Runtime = "default",
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """List the package versions of a runtime."""
    with _client(url, data_dir) as client:
        rows = _call(client.versions, runtime, name)
    table = Table("package", "version", "active", "created", "digest")
    for row in rows:
        table.add_row(
            row["name"],
            row["version"],
            "yes" if row["active"] else "",
            row["created_at"],
            row["digest"][:12],
        )
    console.print(table)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Package name")],
    version: Annotated[
        str | None, typer.Option(help="Version to activate (default: previous)")
    ] = None,
    runtime: Runtime = "default",
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Activate an earlier version of a package."""
    with _client(url, data_dir) as client:
        result = _call(client.rollback, runtime, name, version)
    console.print(f"{name} is now at {result['active_version']} in runtime {runtime}")


@app.command()
def undeploy(
    name: Annotated[str, typer.Argument(help="Package name")],
    runtime: Runtime = "default",
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Stop serving a package in a runtime (its versions are kept)."""
    with _client(url, data_dir) as client:
        _call(client.undeploy, runtime, name)
    console.print(f"{name} undeployed from runtime {runtime}")


@app.command()
def status(url: Url = "http://127.0.0.1:8080", data_dir: DataDir = Path(".flowhost")) -> None:
    """Runtimes, executors (ready or not) and deployed services."""
    with _client(url, data_dir) as client:
        state = _call(client.status)
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
    executors = Table("executor", "runtime", "state", "deployments", "in flight")
    for e in state["executors"]:
        executors.add_row(
            e["address"],
            e["runtime"] or "?",
            "[green]ready[/green]" if e["ready"] else f"[red]not ready[/red] {e['problem']}",
            ", ".join(e["deployments"]),
            str(e["outstanding"]),
        )
    console.print(executors)


@app.command()
def bench(
    seconds: Annotated[float, typer.Option(help="Length of each measured run.")] = 8.0,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds over all targets.")] = 3,
    connections: Annotated[int, typer.Option(help="Concurrent connections.")] = 64,
    executors: Annotated[int, typer.Option(help="Executors in the measured cluster.")] = 1,
    peer: Annotated[str | None, typer.Option(help="Also measure a peer: nodered.")] = None,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds per target.")] = 3.0,
    sweep: Annotated[
        bool, typer.Option(help="Also sweep connections (1…256) and executors (1…4); plot PNGs.")
    ] = False,
    report: Annotated[Path, typer.Option(help="Folder for bench.json and the plots.")] = Path(
        "reports/bench"
    ),
) -> None:
    """Measure the quote action against the FastAPI floor (and Node-RED), interleaved."""
    from bench.run import print_report, run

    if peer not in (None, "nodered"):
        _fail(f"unknown peer {peer!r}; known: nodered")
    try:
        result = run(
            seconds=seconds,
            rounds=rounds,
            connections=connections,
            executors=executors,
            peer=peer,
            warmup_s=warmup,
            report_dir=report,
            sweep=sweep,
        )
    except RuntimeError as error:
        _fail(str(error))
    print_report(result)
    console.print(f"report: {report}/bench.json")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (unique across the gateway)")],
    runtime: Runtime = "default",
    save: Annotated[
        Path | None,
        typer.Option(help="Also write the name and token to this JSON file (mode 600)."),
    ] = None,
    client_cert: ClientCert = None,
    allow_ip: AllowIp = None,
    service: Service = None,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Create a runtime user and print its token (shown once; only a hash is kept)."""
    fingerprint = _fingerprint(client_cert)
    with _client(url, data_dir) as client:
        created = _call(client.add_user, runtime, name)
        if fingerprint or allow_ip or service:
            try:
                access = client.set_access(
                    name, client_cert_sha256=fingerprint, allow_ips=allow_ip, services=service
                )
            except ApiError as error:
                _call(client.remove_user, name)  # no user without the restrictions asked for
                _fail(f"{error.message} (HTTP {error.status}); user {name} was not created")
            _print_access(access)
    if save is not None:
        save.touch(mode=0o600)
        save.write_text(json.dumps({"name": created["name"], "token": created["token"]}))
    console.print(f"user {created['name']} in runtime {created['runtime']}", highlight=False)
    console.print(f"token: {created['token']}", highlight=False)


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
        _fail(f"no such file: {path}")
    try:
        return certificate_fingerprint(path)
    except ApiError as error:
        _fail(error.message)


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


@users_app.command("restrict")
def users_restrict(
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
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
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
            _fail(f"{what} contradict each other")
    fingerprint = "" if no_client_cert else _fingerprint(client_cert)
    with _client(url, data_dir) as client:
        if fingerprint is None and not (allow_ip or any_ip or service or any_service):
            access = _call(client.access, name)
        else:
            access = _call(
                lambda: client.set_access(
                    name,
                    client_cert_sha256=fingerprint,
                    allow_ips=[] if any_ip else allow_ip,
                    services=[] if any_service else service,
                )
            )
    _print_access(access)


@users_app.command("list")
def users_list(
    runtime: Annotated[str | None, typer.Option("--runtime", "-r")] = None,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """List runtime users."""
    with _client(url, data_dir) as client:
        rows = _call(client.users, runtime)
    table = Table("user", "runtime", "created")
    for row in rows:
        table.add_row(row["name"], row["runtime"], row["created_at"])
    console.print(table)


@users_app.command("rotate")
def users_rotate(
    name: Annotated[str, typer.Argument()],
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Issue a new token for a user; the old one stops working."""
    with _client(url, data_dir) as client:
        created = _call(client.rotate_token, name)
    console.print(f"token: {created['token']}", highlight=False)


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument()],
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Remove a runtime user."""
    with _client(url, data_dir) as client:
        _call(client.remove_user, name)
    console.print(f"user {name} removed")


def _id_column(header: str, rows: list[dict[str, Any]]) -> Column:
    """Ids are copied into other commands: never cut or wrapped."""
    width = max([len(header), *(len(r["id"]) for r in rows)])
    return Column(header, no_wrap=True, min_width=width)


@executions_app.callback(invoke_without_command=True)
def executions_list(
    ctx: typer.Context,
    runtime: Annotated[str | None, typer.Option("--runtime", "-r")] = None,
    process: Annotated[str | None, typer.Option(help="Process name.")] = None,
    status: Annotated[
        str | None, typer.Option(help="ok, failed, deadline, cancelled or lost.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="15m, 2h, 7d or an ISO 8601 time.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """List executions, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with _client(url, data_dir) as client:
        rows = _call(
            lambda: client.executions(
                runtime=runtime, process=process, status=status, since=since, limit=limit
            )
        )
    table = Table(
        "started (UTC)",
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
            row["started_at"][5:19].replace("T", " "),
            row["process"],
            row["status"] + (" (WAIT)" if row["invoke"] == "WAIT" else ""),
            f"{row['duration_ms']:.1f}",
            (f"{row['failing_step']}: " if row["failing_step"] else "") + row["error"][:80],
        )
    console.print(table)


@executions_app.command("recording")
def executions_recording(
    switch: Annotated[
        str | None, typer.Argument(help="on or off; without it, show whether it records.")
    ] = None,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Pause (off) or resume (on) recording executions on this gateway, until it restarts."""
    if switch not in (None, "on", "off"):
        _fail(f"expected on or off, not {switch!r}")
    with _client(url, data_dir) as client:
        state = _call(client.recording, None if switch is None else switch == "on")
    console.print(f"execution history: {'recording' if state['enabled'] else 'paused'}")


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(help="Execution id (X-Flowhost-Execution-Id)")],
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """One execution: its summary and step trace, with documents when they were recorded."""
    with _client(url, data_dir) as client:
        row = _call(client.execution, execution_id)
    console.print(
        f"execution {row['id']}: {row['status']} ({row['invoke']}) in {row['duration_ms']:.1f} ms",
        highlight=False,
    )
    console.print(
        f"  runtime {row['runtime']}, {row['package']} {row['version']}, process "
        f"{row['process']}, action {row['action']}, executor {row['executor']}, "
        f"started {row['started_at']}",
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
def callbacks_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="running, pending, delivered, dead or superseded.")
    ] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", "-r")] = None,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """List callbacks, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    with _client(url, data_dir) as client:
        rows = _call(client.callbacks, state, runtime)
    table = Table("state", "kind", "runtime", "action", "attempts", "uri", "last error")
    table.columns.insert(0, _id_column("callback", rows))
    for row in rows:
        table.add_row(
            row["id"],
            row["state"],
            row["kind"],
            row["runtime"],
            row["action"],
            str(row["attempts"]),
            row["callback_uri"],
            row["last_error"][:80],
        )
    console.print(table)


@callbacks_app.command("redeliver")
def callbacks_redeliver(
    callback_id: Annotated[str, typer.Argument(help="Callback id (the execution id)")],
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Send a dead-lettered (or delivered) callback again, from its first attempt."""
    with _client(url, data_dir) as client:
        _call(client.redeliver, callback_id)
    console.print(f"callback {callback_id} queued for redelivery")


def main() -> None:  # pragma: no cover - console script entry for `python -m cli.main`
    app()


if __name__ == "__main__":
    sys.exit(main())  # type: ignore[func-returns-value]
