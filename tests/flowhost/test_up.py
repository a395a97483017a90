"""`flowhost up` as an operator lives with it: the banner's exports drive the other commands, a
version the operator deployed survives a restart of `up`, and a gateway that dies comes back."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flowhost.devcluster import free_port
from flowhost.examples import FOLDER as EXAMPLES
from tests.e2e.cluster import ROOT, assert_eventually

pytestmark = pytest.mark.e2e


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def exports(self) -> dict[str, str]:
        """The variables of the banner's `export` line, as a shell would set them."""
        line = next(x for x in self.output.splitlines() if x.strip().startswith("export "))
        return dict(item.split("=", 1) for item in shlex.split(line.strip())[1:])


def _env() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLOWHOST_")},
        "COLUMNS": "200",
    }


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[object]:
    started: list[Up] = []
    port = free_port()

    def start() -> Up:
        log = tmp_path / f"up-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "flowhost.cli.main", "up", "--executors", "1",
                 "--http-port", str(port), "--data-dir", str(tmp_path / "data")],
                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=_env(),
                start_new_session=True,
            )  # fmt: skip
        up = Up(process, log)
        started.append(up)
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything" not in up.output:
            assert process.poll() is None, up.output
            assert time.monotonic() < deadline, f"up not ready in 90 s:\n{up.output}"
            time.sleep(0.3)
        return up

    yield start
    for up in started:
        stop(up)


def stop(up: Up) -> None:
    if up.process.poll() is None:
        up.process.send_signal(signal.SIGTERM)
        try:
            up.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()


def flowhost(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with only the banner's variables to find the cluster, from another folder."""
    return subprocess.run(
        [sys.executable, "-m", "flowhost.cli.main", *args],
        env={**_env(), **env}, capture_output=True, text=True, timeout=60, cwd=ROOT / "docs",
    )  # fmt: skip


def _gateway_pid(up: Up) -> int:
    for task in Path(f"/proc/{up.process.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[1:3] == [b"-m", b"gateway"]:
                return int(pid)
    raise AssertionError("no gateway child")


def test_up_keeps_the_operators_version_and_restarts_its_gateway(
    start_up: object, tmp_path: Path
) -> None:
    first = start_up()  # type: ignore[operator]
    env = first.exports()
    assert set(env) == {"FLOWHOST_URL", "FLOWHOST_DATA_DIR"}
    assert env["FLOWHOST_DATA_DIR"] == str(tmp_path / "data")
    status = flowhost(env, "status")
    assert status.returncode == 0, status.stderr
    assert "/fs/shop" in status.stdout

    newer = tmp_path / "shop.yaml"
    newer.write_text(
        (EXAMPLES / "shop.yaml").read_text().replace("version: 1.2.0", "version: 9.0.0")
    )
    deployed = flowhost(env, "deploy", str(newer))
    assert deployed.returncode == 0, deployed.stderr

    # The gateway dies: `up` says so, starts it again, and keeps running.
    old_pid = _gateway_pid(first)
    os.kill(old_pid, signal.SIGKILL)
    assert_eventually(lambda: _assert_in("gateway exited", first.output), timeout_s=10)
    assert first.process.poll() is None, first.output

    def answers_again() -> None:
        assert _gateway_pid(first) != old_pid
        try:
            health = httpx.get(f"{env['FLOWHOST_URL']}/health", timeout=2)
        except httpx.HTTPError as error:
            raise AssertionError(f"gateway not answering: {error}") from None
        assert health.status_code == 200

    assert_eventually(answers_again, timeout_s=30, interval_s=0.3)
    assert first.process.poll() is None

    # Restarting `up` deploys nothing over the operator's choice.
    stop(first)
    second = start_up()  # type: ignore[operator]
    assert re.search(r"service shop 9\.0\.0: ", second.output), second.output
    versions = flowhost(env, "versions", "shop")
    assert versions.returncode == 0, versions.stderr
    active = [line for line in versions.stdout.splitlines() if "yes" in line.split()]
    assert len(active) == 1 and "9.0.0" in active[0], versions.stdout


def _assert_in(needle: str, text: str) -> None:
    assert needle in text, text
