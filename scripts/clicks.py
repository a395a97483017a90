"""One click at a time: the quote action's latency when requests come apart, not back to back.

    .venv/bin/python scripts/clicks.py [--requests 300 --pause-ms 20 --rounds 3] [--peer]

wrk keeps every connection busy: at one connection the next request leaves the moment the
answer arrives, so both ends of flowhost's execution link see their answer within a poll
(protos/reply_poll.py). A person clicking sends one request, then nothing for a while: this
sends `--requests` requests on one keep-alive connection with `--pause-ms` between an answer
and the next request, and prints the p50 and p99 of each target, in interleaved rounds: flowhost
as configured, flowhost with link polling off (both LINK_POLL_US 0), and with --peer Node-RED
(peer/, `bash scripts/install-nodered.sh`). The client is Python's http.client; its own time is
in every target's figure alike.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from flowhost.bench import processes
from flowhost.bench.run import QUOTE_PATH, flowhost_target, quote_request
from flowhost.devcluster import free_port


def clicks(url: str, auth: str, body: bytes, requests: int, pause_s: float) -> list[float]:
    """Latencies (ms) of `requests` requests on one connection, `pause_s` apart."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = auth
    took = []
    try:
        for _ in range(requests):
            started = time.perf_counter()
            connection.request("POST", parts.path, body, headers)
            response = connection.getresponse()
            response.read()
            took.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"{url}: HTTP {response.status}")
            time.sleep(pause_s)
    finally:
        connection.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--pause-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer", action="store_true", help="Also Node-RED (peer/).")
    arguments = parser.parse_args()
    body = quote_request()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clicks-")))
        targets: dict[str, tuple[str, str]] = {}
        no_poll = {"FLOWHOST_LINK_POLL_US": "0", "FLOWHOST_EXECUTOR_LINK_POLL_US": "0"}
        for name, env in (("flowhost", {}), ("flowhost-no-poll", no_poll)):
            target = stack.enter_context(flowhost_target(tmp / name, 1, env=env, name=name))
            targets[name] = (target.url, target.auth)
        if arguments.peer:
            port = free_port()
            stack.enter_context(processes.nodered(port))
            targets["nodered"] = (f"http://127.0.0.1:{port}{QUOTE_PATH}", "")
        for url, auth in targets.values():  # warm-up
            clicks(url, auth, body, 50, 0.0)
        taken: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for round_no in range(arguments.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                url, auth = targets[name]
                took = clicks(url, auth, body, arguments.requests, arguments.pause_ms / 1000)
                taken[name].extend(took)
                print(
                    f"round {round_no + 1} {name:18s} p50 {statistics.median(took):6.3f} ms "
                    f"p99 {statistics.quantiles(took, n=100)[98]:6.3f} ms",
                    flush=True,
                )
        print(f"\n{arguments.requests} requests a round, {arguments.pause_ms:g} ms apart:")
        for name, took in taken.items():
            print(
                f"{name:18s} p50 {statistics.median(took):6.3f} ms "
                f"p99 {statistics.quantiles(took, n=100)[98]:6.3f} ms ({len(took)} requests)"
            )


if __name__ == "__main__":
    main()
