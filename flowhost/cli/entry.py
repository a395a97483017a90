"""The `flowhost` console script: `probe` runs without loading the CLI (flowhost/probe.py says
why); everything else, `--help` of the probe included, is the typer app in `main.py`."""

from __future__ import annotations

import sys


def main() -> None:
    arguments = sys.argv[1:]
    if arguments[:1] == ["probe"] and not {"--help", "-h"} & set(arguments):
        from flowhost.probe import main as probe

        sys.exit(probe(arguments[1:]))
    from flowhost.cli.main import app

    app()
