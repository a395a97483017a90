"""Soak: a steady load at a fraction of peak for minutes; RSS of every process, start and end.

Peak is measured first (a short unpaced run); then wrk paces each connection so the cluster gets
`fraction` of it, in slices, and each slice reports the rate, errors, p99 and every process's RSS.
Flat RSS, zero errors and a flat p99 mean nothing accumulates.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flowhost.bench.driver import drive
from flowhost.bench.run import flowhost_target, quote_request


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(seconds: float, fraction: float, connections: int, executors: int, slice_s: float) -> int:
    with tempfile.TemporaryDirectory(prefix="flowhost-soak-") as tmp:
        body = Path(tmp) / "quote.json"
        body.write_bytes(quote_request())
        with flowhost_target(Path(tmp) / "cluster", executors) as target:
            drive(target.url, body, target.auth, connections, 3)
            peak = drive(target.url, body, target.auth, connections, 8).rps
            rate = peak * fraction
            # A connection sends one request per (delay + latency); latency is small at this rate.
            delay_ms = max(connections / rate * 1000 - 1.0, 0.1)
            print(
                f"peak {peak:.0f} req/s; soaking at ~{rate:.0f} req/s ({fraction:.0%}) for "
                f"{seconds:.0f}s, {connections} connections paced {delay_ms:.1f} ms",
                flush=True,
            )
            start_rss = {n: rss_mib(p) for n, p in target.pids.items()}
            print("start RSS MiB: " + ", ".join(f"{n} {v:.1f}" for n, v in start_rss.items()))
            errors = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                length = min(slice_s, max(deadline - time.monotonic(), 1))
                result = drive(target.url, body, target.auth, connections, length, delay_ms)
                errors += result.errors
                # wrk's pacing adds the delay to each request's latency; steer toward the rate.
                delay_ms = max(delay_ms * min(max(result.rps / rate, 0.5), 2.0), 0.1)
                rss = ", ".join(f"{n} {rss_mib(p):.1f}" for n, p in target.pids.items())
                print(
                    f"{result.rps:7.0f} req/s p99 {result.p99_ms:6.2f} ms errors {result.errors} "
                    f"| RSS MiB {rss}",
                    flush=True,
                )
            end_rss = {n: rss_mib(p) for n, p in target.pids.items()}
            print("end RSS MiB:   " + ", ".join(f"{n} {v:.1f}" for n, v in end_rss.items()))
            print(
                "RSS change:    "
                + ", ".join(f"{n} {end_rss[n] - start_rss[n]:+.1f}" for n in start_rss)
            )
            print(f"errors: {errors}")
            return errors
