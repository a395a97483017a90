"""Runaway work is bounded: deadlines hold for jq, executions stay inside their limits, and a
stuck executor is routed around.

Issue 12's rows: ``{timeout: 3s, steps: [{map: 'last(range(1e12))'}]}`` (and ``def f: f; f``)
sat at 100% CPU for good while the caller waited 300 s; ``split: 'range(.n)'`` with n = 1,000,000
took 10 s and 4.3 GB. Each is deployed here through the management API and called through the
gateway, as a Flow user would.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually
from tests.security.conftest import QUOTE, assert_serving

RUNAWAY = """
name: runaway
version: 1.0.0
service:
  path: runaway
  profiles:
    Count:
      type: object
      properties:
        n: {type: number}
  actions:
    - {name: spin, process: spin}
    - {name: recurse, process: recurse}
    - {name: fanout, process: fanout, request: Count}
processes:
  spin:
    timeout: 3s
    steps:
      - map: 'last(range(1e12))'
      - return: {}
  recurse:
    timeout: 3s
    steps:
      - map: 'def f: f; f'
      - return: {}
  fanout:
    timeout: 3s
    steps:
      - split: 'range(.n)'
      - return: {}
"""
DEADLINE_S = 3.0
RSS_BOUND_MB = 500


@pytest.fixture(scope="module")
def runaway(cluster: Cluster) -> Cluster:
    with cluster.client() as client:
        client.deploy(cluster.runtime, RUNAWAY, dry_run=False)
    assert_eventually(lambda: _deployed(cluster), timeout_s=30)
    return cluster


def _deployed(cluster: Cluster) -> None:
    with cluster.client() as client:
        executors = client.request("GET", "/api/executors")
    assert all("runaway@1.0.0" in e["deployments"] and e["ready"] for e in executors), executors


def _executor_pids(cluster: Cluster) -> list[int]:
    return [c.process.pid for c in cluster.children[:-1] if c.process is not None]


def _descendants(pid: int) -> list[int]:
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    for child in map(int, children):
        found += [child, *_descendants(child)]
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / 100


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class QuoteTraffic:
    """Normal quote requests, one after another, in a thread while a test does its worst."""

    def __init__(self, cluster: Cluster, auth: tuple[str, str]) -> None:
        self._url = f"{cluster.url}/fs/shop/actions/quote"
        self._auth = auth
        self._stop = threading.Event()
        self.answers: list[tuple[int, float]] = []  # (status, seconds)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(auth=self._auth, timeout=30) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                response = client.post(self._url, json=QUOTE)
                self.answers.append((response.status_code, time.monotonic() - start))
                time.sleep(0.05)

    def __enter__(self) -> QuoteTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=40)


@pytest.mark.parametrize("action", ["spin", "recurse"])
def test_a_runaway_jq_program_is_answered_deadline_exceeded_in_time(
    runaway: Cluster, flow_auth: tuple[str, str], action: str
) -> None:
    with QuoteTraffic(runaway, flow_auth) as traffic:
        start = time.monotonic()
        response = httpx.post(
            f"{runaway.url}/fs/runaway/actions/{action}", json={}, auth=flow_auth, timeout=60
        )
        elapsed = time.monotonic() - start
    assert response.status_code == 504, response.text
    problem = response.json()
    assert problem["kind"] == "service"
    assert problem["code"] == "deadline_exceeded"
    assert "deadline of 3s" in problem["message"]
    assert elapsed < DEADLINE_S + 2, elapsed
    # The other requests kept being answered, promptly, while the program ran.
    assert len(traffic.answers) >= 5, traffic.answers
    assert all(status == 200 for status, _ in traffic.answers), traffic.answers
    assert max(seconds for _, seconds in traffic.answers) < 1.0, traffic.answers
    # Nothing keeps burning CPU afterwards: the jq worker that ran it was killed.
    processes = [p for pid in _executor_pids(runaway) for p in (pid, *_descendants(pid))]
    before = _cpu_seconds(processes)
    time.sleep(1.0)
    assert _cpu_seconds(processes) - before < 0.5
    assert_serving(runaway, flow_auth)


@pytest.mark.parametrize("n", [1_000_000, 3_000_000])
def test_a_split_past_its_fanout_fails_fast_with_bounded_memory(
    runaway: Cluster, flow_auth: tuple[str, str], n: int
) -> None:
    body = {
        "inputs": [{"developerName": "n", "contentType": "ContentNumber", "contentValue": str(n)}]
    }
    start = time.monotonic()
    response = httpx.post(
        f"{runaway.url}/fs/runaway/actions/fanout", json=body, auth=flow_auth, timeout=60
    )
    elapsed = time.monotonic() - start
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "limit_exceeded"
    assert "split_fanout (10,000)" in problem["message"]
    assert elapsed < 2.0, elapsed
    for pid in _executor_pids(runaway):
        for process in (pid, *_descendants(pid)):
            assert _rss_mb(process) < RSS_BOUND_MB, (process, _rss_mb(process))
    assert_serving(runaway, flow_auth)


def test_a_stuck_executor_is_routed_around_within_a_second(
    runaway: Cluster, flow_auth: tuple[str, str]
) -> None:
    """An executor whose process stops answering (SIGSTOP: its event loop and its gRPC core
    both hold still) takes no new requests within a second; it is back once it answers."""
    stuck = runaway.children[0]
    assert stuck.process is not None
    stuck.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.3)
        with httpx.Client(auth=flow_auth, timeout=30) as client:
            for _ in range(10):
                start = time.monotonic()
                response = client.post(f"{runaway.url}/fs/shop/actions/quote", json=QUOTE)
                assert response.status_code == 200, response.text
                assert time.monotonic() - start < 1.0
        with runaway.client() as client:
            ready = {e["address"]: e["ready"] for e in client.request("GET", "/api/executors")}
        assert list(ready.values()).count(False) == 1, ready
    finally:
        stuck.process.send_signal(signal.SIGCONT)
    assert_eventually(lambda: _deployed(runaway), timeout_s=5)
    assert_serving(runaway, flow_auth)


def test_the_gateway_answers_the_deadline_itself_when_the_executor_cannot(
    runaway: Cluster, flow_auth: tuple[str, str]
) -> None:
    """Both executors stop answering while a 3 s process runs: the gateway's own timer answers
    `deadline_exceeded` 1 s past the deadline, not after its 300 s default."""
    answer: list[httpx.Response] = []

    def call() -> None:
        answer.append(
            httpx.post(
                f"{runaway.url}/fs/runaway/actions/spin", json={}, auth=flow_auth, timeout=60
            )
        )

    caller = threading.Thread(target=call)
    start = time.monotonic()
    caller.start()
    time.sleep(0.5)  # the request is on an executor now
    executors = [c.process for c in runaway.children[:-1] if c.process is not None]
    for process in executors:
        process.send_signal(signal.SIGSTOP)
    try:
        caller.join(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        for process in executors:
            process.send_signal(signal.SIGCONT)
    (response,) = answer
    assert response.status_code == 504, response.text
    problem = response.json()
    assert problem["code"] == "deadline_exceeded"
    assert "so the gateway did" in problem["message"]
    assert elapsed < DEADLINE_S + 2, elapsed
    assert_eventually(lambda: _deployed(runaway), timeout_s=5)
    assert_serving(runaway, flow_auth)
