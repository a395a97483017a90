"""End to end (issue 15): several runtimes in one local cluster, and an executor process that
joins with `flowhost executor --gateway URL`, serves, and leaves (SIGTERM) or is lost (kill -9)
without a failed request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.client import admin_from
from flowhost.devcluster import Cluster
from flowhost.examples import FOLDER as EXAMPLES
from tests.e2e.cluster import assert_eventually, flowhost
from tests.e2e.test_failover import INPUTS

pytestmark = pytest.mark.e2e

TTL_S = 2.0  # the gateway's registration expiry here: a lost executor is gone after it


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(
        data_dir=tmp_path_factory.mktemp("join"),
        http_port=0,
        runtimes={"default": 1, "eu": 1},
        env={"FLOWHOST_REGISTRATION_TTL_S": str(TTL_S)},
    )
    try:
        running.start()
        running.wait_ready(timeout_s=60)
        running.deploy_examples(EXAMPLES)
        yield running
    finally:
        running.stop(grace_s=10)


def _admin(cluster: Cluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.url, auth=admin_from(cluster.data_dir), timeout=10)


def _ready(cluster: Cluster) -> dict[str, str]:
    """Ready executors' addresses -> runtime."""
    with _admin(cluster) as admin:
        executors: list[dict[str, Any]] = admin.get("/api/executors").json()
    return {e["address"]: e["runtime"] for e in executors if e["ready"]}


def _quote(flow: httpx.Client) -> int:
    answer = flow.post("/fs/shop/actions/quote", json={"inputs": INPUTS})
    if answer.status_code != 200:
        print("refused:", answer.text)
    return answer.status_code


def test_each_runtime_has_its_executors_examples_and_user(cluster: Cluster) -> None:
    assert sorted(_ready(cluster).values()) == ["default", "eu"]
    status = flowhost(cluster, "status")
    assert status.returncode == 0, status.stderr
    rows = [[c.strip() for c in line.split("│")][1:4] for line in status.stdout.splitlines()]
    for runtime in ("default", "eu"):
        assert [runtime, "1", "/fs/shop"] in rows, status.stdout
    user = cluster.demo_user("eu")
    assert user[0] == "flow-eu"
    with httpx.Client(base_url=cluster.url, auth=user, timeout=10) as flow:
        assert _quote(flow) == 200


def _join(cluster: Cluster, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `flowhost executor --gateway URL` process of runtime default; (process, address)."""
    assert cluster.link is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWHOST_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowhost.cli.main", "executor", "--runtime", "default",
             "--port", "0", "--gateway", cluster.url],
            stdout=out, stderr=subprocess.STDOUT, cwd=cluster.data_dir,
            env={**env, **cluster.link.executor_env(), "FLOWHOST_EXECUTOR_DRAIN_SECONDS": "5"},
        )  # fmt: skip
    known = set(_ready(cluster))

    def joined() -> str:
        assert process.poll() is None, log.read_text()
        new = [a for a, runtime in _ready(cluster).items() if a not in known]
        assert len(new) == 1 and _ready(cluster)[new[0]] == "default", log.read_text()
        return new[0]

    return process, assert_eventually(joined, timeout_s=20, interval_s=0.05)


def _not_ready(cluster: Cluster, address: str) -> None:
    assert address not in _ready(cluster)


def _served_by(cluster: Cluster, address: str) -> float:
    with _admin(cluster) as admin:
        metrics = admin.get("/metrics").text
    for line in metrics.splitlines():
        if line.startswith("flowhost_executor_stream_requests_total") and f'"{address}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Load:
    """Requests one after another from a thread until stopped; every status kept."""

    def __init__(self, cluster: Cluster) -> None:
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._flow = httpx.Client(base_url=cluster.url, auth=cluster.demo_user(), timeout=10)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.statuses.append(_quote(self._flow))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(15)
        self._flow.close()
        return self.statuses


def test_a_joining_executor_serves_then_leaves_on_sigterm_without_failures(
    cluster: Cluster, tmp_path: Path
) -> None:
    started = time.monotonic()
    process, address = _join(cluster, tmp_path / "joiner.log")
    print(f"joined and ready in {time.monotonic() - started:.2f}s")
    load = Load(cluster)
    try:

        def served() -> None:
            assert _served_by(cluster, address) >= 3

        assert_eventually(served, timeout_s=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert_eventually(lambda: _not_ready(cluster, address), timeout_s=5)
        time.sleep(0.3)  # requests after it left go to the other
    finally:
        statuses = load.stop()
        if process.poll() is None:
            process.kill()
    assert len(statuses) > 10
    assert set(statuses) == {200}, statuses
    assert "left gateway" in (tmp_path / "joiner.log").read_text()


def test_a_lost_executor_is_routed_around_and_dropped_after_the_expiry(
    cluster: Cluster, tmp_path: Path
) -> None:
    process, address = _join(cluster, tmp_path / "lost.log")
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    lost_at = time.monotonic()
    with httpx.Client(base_url=cluster.url, auth=cluster.demo_user(), timeout=10) as flow:
        assert_eventually(lambda: _not_ready(cluster, address), timeout_s=5)
        assert [_quote(flow) for _ in range(10)] == [200] * 10

    def gone() -> None:
        with _admin(cluster) as admin:
            listed = [e["address"] for e in admin.get("/api/executors").json()]
        assert address not in listed

    assert_eventually(gone, timeout_s=TTL_S + 4)
    assert time.monotonic() - lost_at >= TTL_S - 1.0  # not before its registration expired
