"""What every command that talks to a gateway shares: its options, its client, its one error
handler, and how it prints.

The gateway options (`--url`, `--data-dir`, `--admin-user`, `--ca-file`) are declared once, here,
and `gateway_command` adds them to each command that asks for a `Gateway`. They stay options of
the command itself (`flowhost users list --url ...`), not of the root app (`flowhost --url ...
users list`), so every command line, script and compose file written so far keeps working and
`--help` of a command lists what it accepts.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from flowhost.client import ApiError, ManagementClient, admin_from
from flowhost.tls import tls_verify

# Tokens and curl lines must stay copyable; output piped to grep or a file gets whole table
# rows (rich would fit them into 80 columns) unless COLUMNS says otherwise.
_PIPED = not sys.stdout.isatty() and "COLUMNS" not in os.environ
console = Console(soft_wrap=True, width=200 if _PIPED else None)
errors = Console(stderr=True, soft_wrap=True)

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_DATA_DIR = Path(".flowhost")
_PANEL = "Gateway options"

Runtime = Annotated[str, typer.Option("--runtime", "-r", help="The runtime.")]
AnyRuntime = Annotated[str | None, typer.Option("--runtime", "-r", help="Only this runtime.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: how every command reports an error."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where a command's gateway is and how to log in to it."""

    url: str = DEFAULT_URL
    data_dir: Path = DEFAULT_DATA_DIR
    admin_user: str | None = None
    ca_file: Path | None = None

    def client(self) -> ManagementClient:
        user, password = admin_from(self.data_dir)
        return ManagementClient(
            self.url, (self.admin_user or user, password), verify=tls_verify(self.ca_file)
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.client() as client:
            return client.request(method, path, **kwargs)


def _gateway_parameters() -> list[inspect.Parameter]:
    def option(name: str, default: Any, kind: Any, **info: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[kind, typer.Option(rich_help_panel=_PANEL, **info)],
        )

    return [
        option("url", DEFAULT_URL, str, envvar="FLOWHOST_URL", help="The gateway's base URL."),
        option(
            "data_dir",
            DEFAULT_DATA_DIR,
            Path,
            envvar="FLOWHOST_DATA_DIR",
            help="The gateway's data folder: its admin.json holds the admin credentials "
            "(unless FLOWHOST_ADMIN_PASSWORD is set).",
        ),
        option(
            "admin_user",
            None,
            str | None,
            envvar="FLOWHOST_ADMIN_USER",
            help="The admin user name (default: admin.json's, else admin).",
        ),
        option(
            "ca_file",
            None,
            Path | None,
            envvar="FLOWHOST_TLS_CA_FILE",
            help="CA bundle an https gateway's certificate is checked against "
            "(default: the system's).",
        ),
    ]


F = TypeVar("F", bound=Callable[..., Any])


def gateway_command(fn: F) -> F:
    """`fn(gateway: Gateway, ...)` as a command taking the gateway options, its API errors
    reported by `report` (one line, exit code 1)."""
    signature = inspect.signature(fn, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "gateway"]
    shared = _gateway_parameters()

    @functools.wraps(fn)
    def command(
        *args: Any,
        url: str,
        data_dir: Path,
        admin_user: str | None,
        ca_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        try:
            return fn(Gateway(url, data_dir, admin_user, ca_file), *args, **kwargs)
        except ApiError as error:
            report(error)
        except (KeyError, TypeError) as error:  # JSON, but not the shape a flowhost answers
            fail(f"{url} answered, but not as a flowhost gateway does ({error!r}): is --url right?")

    command.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{p.name: p.annotation for p in shared},
    }
    return command  # type: ignore[return-value]


def report(error: ApiError) -> NoReturn:
    """The one place an API error becomes what the user reads, and the exit code."""
    issues = error.details.get("issues") if error.details else None
    if issues:
        what = "has warnings (--strict)" if error.details.get("strict") else "is invalid"
        errors.print(f"[red]error:[/red] the package {what}:", highlight=False)
        for issue in issues:
            errors.print(f"  {issue['path']}: {issue['message']}", highlight=False, markup=False)
        raise typer.Exit(1)
    fail(error.message + (f" (HTTP {error.status})" if error.status else ""))


def timestamp(value: str | None) -> str:
    """Every time the CLI prints: ISO 8601 in UTC to the second, `2026-05-01T12:30:05Z`
    (docs/operations.md, "The CLI"), whatever form the API sent."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # the store keeps UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
