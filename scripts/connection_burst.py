"""The tail a burst of new connections sees: wrk started afresh, run after run, on one cluster.

    .venv/bin/python scripts/connection_burst.py [--connections 256 --runs 10 --seconds 3]

Each run opens all its connections at once against a gateway still busy with the previous run's
last requests, as a load balancer or a Flow tenant opening its pool does. Before the gateway
accepted every waiting connection per loop turn (gateway/http/acceptor.py) a third of such runs
had a p99 of 0.5-1.5 s; the figure per run is the thing to look at (docs/benchmark.md, "The
256-connection tail"). FLOWHOST_* variables in the environment reach the cluster.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flowhost.bench.driver import drive
from flowhost.bench.run import flowhost_target, quote_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="connection-burst-") as tmp:
        body = Path(tmp) / "quote.json"
        body.write_bytes(quote_request())
        with flowhost_target(Path(tmp) / "cluster", 1) as target:
            drive(target.url, body, target.auth, arguments.connections, 3.0)  # warm-up
            slow = 0
            for run in range(arguments.runs):
                result = drive(
                    target.url, body, target.auth, arguments.connections, arguments.seconds
                )
                slow += result.p99_ms > 250
                print(
                    f"run {run + 1:2d} {time.strftime('%H:%M:%S')} {result.rps:7.0f} req/s "
                    f"p50 {result.p50_ms:6.1f} ms p99 {result.p99_ms:7.1f} ms "
                    f"p99.9 {result.p999_ms:7.1f} ms errors {result.errors}",
                    flush=True,
                )
            print(f"{slow} of {arguments.runs} runs with a p99 above 250 ms")


if __name__ == "__main__":
    main()
