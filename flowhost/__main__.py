"""`python -m flowhost`: the same command as the `flowhost` script."""

from flowhost.cli.main import app

app(prog_name="flowhost")
