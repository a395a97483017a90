"""`flowhost bench --scenario noisy-neighbour`: does one runtime's flood starve another?

One gateway, two runtimes. Runtime A serves a process that sleeps 200 ms; runtime B the quote
action. Each round measures B alone at 8 connections, then B at 8 while A is flooded at 256
connections (wrk, one thread each, started a second before B's run and ending after it) in two
ways: a flood that honours Retry-After as Flow does ("polite"), and one that sends the next
request the instant a refusal comes back ("raw": every refused connection loops on the gateway).
The figures come from the same minutes of the machine (interleaved rounds). What is printed:
B's p50/p99 alone and under each flood, the ratios (the issue asks p99 within 2x), and what
became of A's requests: answered, refused by admission (429/503, read from the gateway's
/metrics).

The cluster is `flowhost.devcluster.Cluster` for runtime B; runtime A's executor is one more
`python -m executors` process started here with the cluster's link credentials, which the gateway
finds through FLOWHOST_EXECUTOR_DNS (a numeric address resolves to itself).
"""

from __future__ import annotations

import base64
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from flowhost.bench.driver import LoadResult, drive
from flowhost.bench.run import PACKAGE, QUOTE_PATH, quote_request
from flowhost.client import admin_from
from flowhost.devcluster import Cluster, free_port

#: Runtime A's package: the quote action's profiles, a process that sleeps 200 ms first.
SLOW_PACKAGE = (
    PACKAGE.read_text()
    .replace("name: bench", "name: slow")
    .replace("path: bench", "path: slow")
    .replace("    steps:\n", "    steps:\n      - sleep: 200ms\n")
)
SLOW_PATH = "/fs/slow/actions/quote"
PHASES = ("alone", "polite flood", "raw flood")
_REFUSED = re.compile(
    r'^flowhost_admission_refused_total\{limit="(\w+)",runtime="A"\} (\S+)$', re.M
)


def run(
    *,
    seconds: float,
    rounds: int,
    connections: int = 8,
    flood_connections: int = 256,
    warmup_s: float = 2.0,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flowhost-noisy-")))
        body = tmp / "quote.json"
        body.write_bytes(quote_request(None))  # no callbackUri: A's requests are plain ones
        port_a = free_port()
        cluster = Cluster(
            data_dir=tmp / "cluster",
            http_port=0,
            executors=1,
            runtime="B",
            env={"FLOWHOST_EXECUTOR_DNS": f"127.0.0.1:{port_a}", **(env or {})},
        )
        stack.callback(cluster.stop)
        cluster.start()
        assert cluster.link is not None
        executor_a = subprocess.Popen(
            [sys.executable, "-m", "executors"],
            env={
                **cluster._env({}),
                "FLOWHOST_EXECUTOR_RUNTIME": "A",
                "FLOWHOST_EXECUTOR_HOST": "127.0.0.1",
                "FLOWHOST_EXECUTOR_PORT": str(port_a),
                **cluster.link.executor_env(),
            },
            stdout=(tmp / "executor-a.log").open("ab"),
            stderr=subprocess.STDOUT,
            cwd=cluster.data_dir,
            start_new_session=True,
        )
        stack.callback(_stop, executor_a)
        cluster.wait_ready()
        with cluster.client() as client:
            client.add_runtime("A")
            client.deploy("B", PACKAGE.read_text(), dry_run=False)
            client.deploy("A", SLOW_PACKAGE, dry_run=False)
            flooder = client.add_user("A", "flooder")
        user, token = cluster.demo_user()
        auth_b = _basic(user, token)
        auth_a = _basic(flooder["name"], flooder["token"])
        url_b, url_a = cluster.url + QUOTE_PATH, cluster.url + SLOW_PATH
        _until_served(url_a, body, auth_a)
        drive(url_b, body, auth_b, connections, warmup_s)
        drive(url_a, body, auth_a, flood_connections, warmup_s)
        b: dict[str, list[LoadResult]] = {phase: [] for phase in PHASES}
        a: dict[str, list[LoadResult]] = {phase: [] for phase in PHASES[1:]}
        with ThreadPoolExecutor(1) as pool:
            for round_no in range(rounds):
                b["alone"].append(drive(url_b, body, auth_b, connections, seconds))
                line = f"round {round_no + 1}/{rounds}: B alone p99 {b['alone'][-1].p99_ms:.1f} ms"
                for phase in PHASES[1:]:
                    flood = pool.submit(
                        drive, url_a, body, auth_a, flood_connections, seconds + 2, 0,
                        phase == "polite flood",
                    )  # fmt: skip
                    time.sleep(1.0)  # the flood is at full strength before B is measured
                    b[phase].append(drive(url_b, body, auth_b, connections, seconds))
                    a[phase].append(flood.result())
                    line += (
                        f"; {phase}: B p99 {b[phase][-1].p99_ms:.1f} ms, A "
                        f"{a[phase][-1].requests - a[phase][-1].errors} answered, "
                        f"{a[phase][-1].errors} refused"
                    )
                print(line, flush=True)
        metrics = httpx.get(
            cluster.url + "/metrics", auth=admin_from(cluster.data_dir), timeout=10
        ).text
        refused = {limit: int(float(count)) for limit, count in _REFUSED.findall(metrics)}

    def median(runs: list[LoadResult], attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in runs))

    alone_p99 = max(median(b["alone"], "p99_ms"), 1e-9)
    return {
        "scenario": "noisy-neighbour",
        "seconds": seconds,
        "rounds": rounds,
        "connections_b": connections,
        "connections_a": flood_connections,
        "b": {
            phase: {
                **{k: median(runs, k) for k in ("rps", "p50_ms", "p99_ms")},
                "p99_ratio": median(runs, "p99_ms") / alone_p99,
                "errors": sum(r.errors for r in runs),
            }
            for phase, runs in b.items()
        },
        "a": {
            phase: {
                "answered_per_s": statistics.median(
                    (r.requests - r.errors) / r.seconds for r in runs
                ),
                "refused_per_s": statistics.median(r.errors / r.seconds for r in runs),
            }
            for phase, runs in a.items()
        },
        "a_refused_by_admission": refused,
    }


def print_report(report: dict[str, Any]) -> None:
    print()
    print(
        f"noisy neighbour: runtime B (quote) at {report['connections_b']} connections, alone and "
        f"while runtime A (200 ms sleep) is flooded at {report['connections_a']}; "
        f"{report['rounds']} interleaved rounds of {report['seconds']}s"
    )
    print(
        f"{'phase':13s} {'B req/s':>8s} {'B p50 ms':>9s} {'B p99 ms':>9s} {'p99 ratio':>9s} "
        f"{'B errors':>8s} {'A answered/s':>12s} {'A refused/s':>11s}"
    )
    for phase, row in report["b"].items():
        flood = report["a"].get(phase, {"answered_per_s": 0, "refused_per_s": 0})
        print(
            f"{phase:13s} {row['rps']:8.0f} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f} "
            f"{row['p99_ratio']:9.2f} {row['errors']:8d} {flood['answered_per_s']:12.0f} "
            f"{flood['refused_per_s']:11.0f}"
        )
    print("(the issue asks B's p99 under the flood within 2x of alone)")
    print(f"A refused by admission, all rounds, by limit: {report['a_refused_by_admission']}")


def _basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def _until_served(url: str, body: Path, auth: str, timeout_s: float = 30.0) -> None:
    """Until runtime A's executor has the package (the gateway found it by DNS)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.post(
            url, content=body.read_bytes(), headers={"authorization": auth}, timeout=5
        )
        if response.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"runtime A does not answer: {response.status_code} {response.text}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
