"""The Flow client of tests/e2e/test_netns_partition.py, run inside the gateway's namespace
(`python -m tests.e2e.netns_load partition|latency URL PACKAGE ...`): the test's own process
cannot reach the namespace's addresses. It prints one JSON line per phase on stdout and takes
the test's cues (`cut`, `healed`) on stdin."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from flowhost.client import ManagementClient

ADMIN = ("admin", "netns-admin-password")
QUOTE = {
    "inputs": [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
    ]
}
WORKERS = 4
PAUSE_S = 0.01  # between a worker's requests: a steady load, not all of the machine


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def executors(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{url}/api/executors", auth=ADMIN, timeout=2).json()
    return found


def wait_ready(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len([e for e in executors(url) if e["ready"]]) >= count:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    say(error=f"{count} executors not ready at {url}")
    sys.exit(1)


def user_of(client: ManagementClient, url: str, runtime: str, name: str) -> tuple[str, str]:
    user = client.add_user(runtime, name)
    auth = (user["name"], user["token"])
    deadline = time.monotonic() + 20
    while httpx.post(f"{url}/fs/e2e/actions/quote", json=QUOTE, auth=auth).status_code != 200:
        if time.monotonic() > deadline:
            say(error=f"the package is not served to {name}")
            sys.exit(1)
        time.sleep(0.1)
    return auth


def partition(url: str, package: str, watched: str) -> None:
    wait_ready(url, 2)
    with ManagementClient(url, ADMIN) as client:
        client.deploy("default", Path(package).read_text(), dry_run=False)
        auth = user_of(client, url, "default", "flow")
    results: list[tuple[float, float, int, str]] = []  # started, seconds, status, problem
    states: list[tuple[float, bool]] = []  # when, watched executor ready
    stop = threading.Event()

    def worker() -> None:
        with httpx.Client(base_url=url, auth=auth, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    answer = http.post("/fs/e2e/actions/quote", json=QUOTE)
                    status = answer.status_code
                    problem = "" if status == 200 else answer.text[:300]
                except httpx.HTTPError as error:
                    status, problem = 0, f"{type(error).__name__}: {error}"
                results.append((started, time.monotonic() - started, status, problem))
                time.sleep(PAUSE_S)

    def monitor() -> None:
        while not stop.is_set():
            try:
                ready = {e["address"]: e["ready"] for e in executors(url)}
                states.append((time.monotonic(), bool(ready.get(watched))))
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    threads.append(threading.Thread(target=monitor))
    for thread in threads:
        thread.start()
    say(phase="loading")
    cut = healed = 0.0
    for line in sys.stdin:
        if line.strip() == "cut":
            cut = time.monotonic()
        elif line.strip() == "healed":
            healed = time.monotonic()
            break
    rejoined = None
    deadline = healed + 15
    while time.monotonic() < deadline and rejoined is None:
        rejoined = next((t for t, ready in states if t > healed and ready), None)
        time.sleep(0.05)
    time.sleep(0.5)  # load on the rejoined executor
    stop.set()
    for thread in threads:
        thread.join(35)
    lost = next((t for t, ready in states if t > cut and not ready), None)
    during = [r for r in results if cut <= r[0] < healed]
    say(
        phase="done",
        requests=len(results),
        ok=sum(1 for r in results if r[2] == 200),
        during=len(during),
        during_ok=sum(1 for r in during if r[2] == 200),
        failed=[[status, problem] for _, _, status, problem in results if status != 200],
        slowest_s=max(r[1] for r in results),
        not_ready_after_s=None if lost is None else lost - cut,
        rejoined_after_s=None if rejoined is None else rejoined - healed,
        partition_s=healed - cut,
    )


def latency(url: str, package: str, rounds: int) -> None:
    wait_ready(url, 2)
    with ManagementClient(url, ADMIN) as client:
        auths = {}
        for runtime in ("direct", "proxied"):
            client.add_runtime(runtime)
        for runtime in ("direct", "proxied"):
            client.deploy(runtime, Path(package).read_text(), dry_run=False)
            auths[runtime] = user_of(client, url, runtime, f"user-{runtime}")
    clients = {r: httpx.Client(base_url=url, auth=a, timeout=10) for r, a in auths.items()}
    timings: dict[str, list[float]] = {"direct": [], "proxied": []}
    for round_ in range(rounds + 10):
        for runtime, http in clients.items():  # interleaved: the machine's load hits both
            started = time.perf_counter()
            answer = http.post("/fs/e2e/actions/quote", json=QUOTE)
            took = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            if round_ >= 10:  # the first ten warm up connections and caches
                timings[runtime].append(took)
    for http in clients.values():
        http.close()
    say(
        phase="done",
        p50_ms={r: statistics.median(t) * 1000 for r, t in timings.items()},
        p90_ms={r: statistics.quantiles(t, n=10)[-1] * 1000 for r, t in timings.items()},
    )


if __name__ == "__main__":
    mode, url, package = sys.argv[1:4]
    if mode == "partition":
        partition(url, package, sys.argv[4])
    else:
        latency(url, package, int(sys.argv[4]))
