"""`flowhost probe`, the healthcheck compose and the Helm chart run in every container: the
console script answers for a gateway URL and an executor's host:port, fails with the reason for
one that does not serve, and never loads the rest of the CLI (it runs every few seconds)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cluster import running_cluster

pytestmark = pytest.mark.e2e

FLOWHOST = Path(sys.executable).with_name("flowhost")


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}  # every import, on stderr
    return subprocess.run(
        [str(FLOWHOST), "probe", *args], capture_output=True, text=True, timeout=30, env=env
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(not FLOWHOST.exists(), reason=f"no console script at {FLOWHOST}")
def test_the_probe_answers_for_gateway_and_executor_and_loads_no_cli(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        for target in (cluster.url, cluster.executor_addresses[0]):
            served = _probe(target)
            assert served.returncode == 0, served.stderr[-2000:]
            loaded = served.stderr
            assert "| typer" not in loaded and "flowhost.cli.main" not in loaded, target
    port = _closed_port()
    down = _probe(f"http://127.0.0.1:{port}", "--timeout", "1")
    assert down.returncode == 1
    assert "gateway not healthy: [Errno 111] Connection refused" in down.stderr
    gone = _probe(f"127.0.0.1:{port}", "--timeout", "1")
    assert gone.returncode == 1 and "executor not healthy: UNAVAILABLE" in gone.stderr
    malformed = _probe("http://[::", "--timeout", "1")  # a broken healthcheck line
    assert malformed.returncode == 1
    assert "gateway not healthy: Invalid IPv6 URL" in malformed.stderr
    assert "Traceback" not in malformed.stderr
    helped = subprocess.run([str(FLOWHOST), "probe", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--ca-file" in helped.stdout  # the CLI's own help
