"""Drive an HTTP endpoint with wrk (Debian's package: cheap, out of the measured processes)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (Debian's package)")
    return path


def drive(
    url: str,
    body: Path,
    auth: str,
    connections: int,
    seconds: float,
    delay_ms: float = 0,
    retry_after: bool = False,
) -> LoadResult:
    """Run wrk with one thread (it must not steal the CPU it measures) and parse its summary.
    With delay_ms, each connection waits that long between requests (a paced, steady load);
    with retry_after, a connection refused with Retry-After waits that long (as Flow does)."""
    completed = subprocess.run(
        [
            wrk_path(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        env={
            "BENCH_BODY": str(body),
            "BENCH_AUTH": auth,
            "BENCH_DELAY_MS": f"{delay_ms:g}",
            "BENCH_RETRY_AFTER": "1" if retry_after else "",
            "PATH": "/usr/bin:/bin",
        },
        timeout=seconds + 60,
        check=True,
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {completed.stdout} {completed.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
    )
