"""`flowhost policy show|set|reset --runtime R`: what a runtime's processes may touch."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from flowhost.client import ApiError, ManagementClient, admin_from

app = typer.Typer(
    help="Runtime policies: the files root, databases, hosts and limits a runtime's processes "
    "may use. `flowhost policy show -r R`, `flowhost policy set -r R --allow-loopback`.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
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
LIMITS = ("documents_per_step", "document_bytes", "execution_bytes", "split_fanout")


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(1)


def _request(url: str, data_dir: Path, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with ManagementClient(url, admin_from(data_dir)) as client:
            return client.request(method, path, **kwargs)
    except ApiError as error:
        _fail(_readable(error.message))


def _readable(message: str) -> str:
    """FastAPI's 422 detail (a list of problems) as one line per problem."""
    try:  # the client hands FastAPI's list over as its repr
        problems = ast.literal_eval(message)
    except (ValueError, SyntaxError):
        return message
    if not isinstance(problems, list):
        return message
    return "; ".join(
        f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg', '')}"
        for item in problems
        if isinstance(item, dict)
    )


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
def show(
    runtime: Runtime = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Show a runtime's policy and which executors hold it."""
    answer = _request(url, data_dir, "GET", f"/api/runtimes/{runtime}/policy")
    if as_json:
        console.print_json(data=answer)
        return
    for line in describe(answer):
        console.print(line, highlight=False, markup=False)


@app.command("set")
def set_policy(
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
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Change a runtime's policy: options given replace those fields, the rest stay."""
    current = _request(url, data_dir, "GET", f"/api/runtimes/{runtime}/policy")["policy"]
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
            _fail(f"--limit {item!r}: expected NAME=NUMBER, NAME one of {', '.join(LIMITS)}")
        current["limits"][name] = int(value)
    answer = _request(url, data_dir, "PUT", f"/api/runtimes/{runtime}/policy", json=current)
    for line in describe(answer):
        console.print(line, highlight=False, markup=False)


@app.command()
def reset(
    runtime: Runtime = "default",
    url: Url = "http://127.0.0.1:8080",
    data_dir: DataDir = Path(".flowhost"),
) -> None:
    """Forget a runtime's policy: the default applies again."""
    answer = _request(url, data_dir, "DELETE", f"/api/runtimes/{runtime}/policy")
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
