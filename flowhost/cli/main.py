"""flowhost: run a cluster, deploy packages, manage runtime users.

The root app only assembles: each command group is a Typer app in its own module, and every
command that talks to a gateway takes the shared gateway options from `flowhost.cli.shared`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import flowhost
from flowhost.cli import (
    config,
    history,
    listeners,
    ops,
    packages,
    policy,
    runtimes,
    testing,
    users,
)
from flowhost.cli.up import up

app = typer.Typer(
    help="flowhost: a Flow Services Server cluster. `flowhost up` starts one on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"flowhost {flowhost.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print flowhost's version and exit.",
        ),
    ] = False,
) -> None:
    """flowhost: a Flow Services Server cluster. `flowhost up` starts one on this machine."""


app.command()(up)
app.command()(ops.gateway)
app.command()(ops.executor)
app.add_typer(packages.app)
app.command()(testing.test)
app.add_typer(runtimes.app, name="runtimes")
app.add_typer(users.app, name="users")
app.add_typer(history.executions_app, name="executions")
app.add_typer(history.callbacks_app, name="callbacks")
app.add_typer(config.app, name="config")
app.add_typer(policy.app, name="policy")
app.add_typer(listeners.app, name="listeners")
app.command()(ops.probe)
app.command()(ops.load)
app.command()(ops.soak)
app.command()(ops.bench)


def main() -> None:  # pragma: no cover - console script entry for `python -m flowhost.cli.main`
    app(prog_name="flowhost")


if __name__ == "__main__":
    sys.exit(main())  # type: ignore[func-returns-value]
