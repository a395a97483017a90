"""The benchmark: flowhost's quote action vs the lean FastAPI floor and Node-RED, interleaved.

Absolute figures drift ±30% on these machines, so the result is the ratios of targets measured
in the same rounds: each round drives every target once, in turn, for the same time.
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from flowhost.bench import processes
from flowhost.bench.driver import LoadResult, drive
from flowhost.devcluster import Cluster, free_port

PACKAGE = Path(__file__).with_name("package.yaml")
QUOTE_PATH = "/fs/bench/actions/quote"
#: Admission limits above any connection count the bench drives (see `flowhost_target`).
BENCH_ADMISSION = {
    "FLOWHOST_ADMISSION_RUNTIME_CONCURRENCY": "4096",
    "FLOWHOST_ADMISSION_USER_CONCURRENCY": "4096",
}


#: Where the benchmark's requests say Flow waits for callbacks: a closed port on loopback (the
#: quote action answers at once, so nothing calls it; local clusters allow loopback callbacks).
LOOPBACK_CALLBACK = "http://127.0.0.1:9/api/run/1/response"


def quote_request(callback_uri: str | None = LOOPBACK_CALLBACK) -> bytes:
    """The Flow ServiceRequest the peer answers too (shared/peers/quote-request.json's shape);
    without `callback_uri`, the request names none."""
    value = {
        "valueElementId": None,
        "typeElementId": None,
        "typeElementPropertyId": None,
        "typeElementDeveloperName": None,
        "typeElementPropertyDeveloperName": None,
        "objectData": None,
    }
    return orjson.dumps(
        {
            "token": "0b7c1f3e-5a2d-4c8e-9f61-2d3b4a5c6d7e",
            "tenantId": "6a1e2b3c-4d5e-4f60-8172-93a4b5c6d7e8",
            "stateId": "2c3d4e5f-6071-4829-a3b4-c5d6e7f80912",
            **({"callbackUri": callback_uri} if callback_uri else {}),
            "culture": {"language": "EN", "country": "USA"},
            "configurationValues": [],
            "inputs": [
                {
                    **value,
                    "developerName": "sku",
                    "contentType": "ContentString",
                    "contentValue": "ab-100",
                },
                {
                    **value,
                    "developerName": "quantity",
                    "contentType": "ContentNumber",
                    "contentValue": "3",
                },
                {
                    **value,
                    "developerName": "unitPrice",
                    "contentType": "ContentNumber",
                    "contentValue": "12.5",
                },
            ],
            "outcomes": [],
        }
    )


class Load(NamedTuple):
    """What one run of one target measured: wrk's figures, and per process of the target."""

    result: LoadResult
    cpu_us_per_request: dict[str, float]
    switches_per_request: dict[str, float]
    #: Share of the machine's CPU time the hypervisor took meanwhile, in per cent.
    steal_pct: float = 0.0


@dataclass
class Target:
    name: str
    url: str
    auth: str
    pids: dict[str, int]
    cluster: Cluster | None = None  # flowhost's own, for its management API
    runs: list[LoadResult] = field(default_factory=list)
    cpu_us_per_request: list[dict[str, float]] = field(default_factory=list)
    switches_per_request: list[dict[str, float]] = field(default_factory=list)

    def load(self, body: Path, connections: int, seconds: float) -> Load:
        """One run of wrk, and per process the CPU and context switches per request meanwhile
        (from /proc: unlike wall time, they hardly move when other work shares the machine)."""
        cpu = {n: processes.cpu_seconds(p) for n, p in self.pids.items()}
        switches = {n: processes.context_switches(p) for n, p in self.pids.items()}
        stolen, ticks = processes.machine_ticks()
        result = drive(self.url, body, self.auth, connections, seconds)
        stolen_after, ticks_after = processes.machine_ticks()
        requests = max(result.requests, 1)
        return Load(
            result,
            {n: (processes.cpu_seconds(p) - cpu[n]) * 1e6 / requests for n, p in self.pids.items()},
            {
                n: (processes.context_switches(p) - switches[n]) / requests
                for n, p in self.pids.items()
            },
            100 * (stolen_after - stolen) / max(ticks_after - ticks, 1),
        )

    def measure(self, body: Path, connections: int, seconds: float) -> LoadResult:
        """`load`, kept for the summary of the rounds."""
        load = self.load(body, connections, seconds)
        self.runs.append(load.result)
        self.cpu_us_per_request.append(load.cpu_us_per_request)
        self.switches_per_request.append(load.switches_per_request)
        return load.result

    def summary(self) -> dict[str, object]:
        def median(attr: str) -> float:
            return float(statistics.median(getattr(r, attr) for r in self.runs))

        cpu = {n: statistics.median(c[n] for c in self.cpu_us_per_request) for n in self.pids}
        return {
            "target": self.name,
            "rps": statistics.median(r.rps for r in self.runs),
            "rps_runs": [round(r.rps) for r in self.runs],
            "p50_ms": median("p50_ms"),
            "p99_ms": median("p99_ms"),
            "p999_ms": median("p999_ms"),
            "errors": sum(r.errors for r in self.runs),
            "cpu_us_per_request": cpu,
        }


@contextmanager
def flowhost_target(
    data_dir: Path,
    executors: int,
    *,
    mtls: bool = False,
    env: dict[str, str] | None = None,
    name: str = "flowhost",
) -> Iterator[Target]:
    """A cluster with the bench package deployed (executor ports from the OS).

    One runtime user drives it at up to 256 connections (the sweep), past the gateway's default
    admission limit per user (64): the limits are raised so the bench measures the request path,
    not the limits (the noisy-neighbour scenario measures those); `env` may set them back."""
    env = {**BENCH_ADMISSION, **(env or {})}
    cluster = Cluster(data_dir=data_dir, http_port=0, executors=executors, mtls=mtls, env=env)
    try:
        cluster.start()
        cluster.wait_ready()
        with cluster.client() as client:
            client.deploy("default", PACKAGE.read_text(), dry_run=False)
        user, token = cluster.demo_user()
        pids = {c.name: c.process.pid for c in cluster.children if c.process is not None}
        # The gateway's history writer is a child of it: its CPU is part of the cost too.
        for pid in processes.children(pids["gateway"]):
            pids["history-writer"] = pid
        auth = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        yield Target(name, cluster.url + QUOTE_PATH, auth, pids, cluster)
    finally:
        cluster.stop()


def run(
    *,
    seconds: float,
    rounds: int,
    connections: int,
    executors: int,
    peer: str | None,
    warmup_s: float,
    report_dir: Path | None,
    sweep: bool,
) -> dict[str, object]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flowhost-bench-")))
        body = tmp / "quote.json"
        body.write_bytes(quote_request())
        targets = [stack.enter_context(flowhost_target(tmp / "cluster", executors))]
        port = free_port()
        baseline = stack.enter_context(processes.fastapi_baseline(port))
        targets.append(
            Target(
                "fastapi-floor",
                f"http://127.0.0.1:{port}{QUOTE_PATH}",
                "",
                {"uvicorn": baseline.pid},
            )
        )
        if peer == "nodered":
            port = free_port()
            red = stack.enter_context(processes.nodered(port))
            targets.append(
                Target("nodered", f"http://127.0.0.1:{port}{QUOTE_PATH}", "", {"node": red.pid})
            )
        for target in targets:  # warm-up: JITs, caches, connection pools
            drive(target.url, body, target.auth, connections, warmup_s)
        for round_no in range(rounds):
            for target in targets:
                result = target.measure(body, connections, seconds)
                print(
                    f"round {round_no + 1}/{rounds} {target.name:14s} {result.rps:8.0f} req/s "
                    f"p99 {result.p99_ms:6.1f} ms errors {result.errors}",
                    flush=True,
                )
        summaries = [t.summary() for t in targets]
        report: dict[str, object] = {
            "connections": connections,
            "seconds": seconds,
            "rounds": rounds,
            "executors": executors,
            "targets": summaries,
            "ratios": ratios(summaries),
        }
        if sweep:
            rows = sweep_connections(targets, body, seconds, rounds)
            report["sweep_connections"] = rows
            if peer is not None:
                report["sweep_ratios"] = sweep_ratios(rows, peer)
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            (report_dir / "bench.json").write_text(json.dumps(report, indent=2))
    if sweep and report_dir is not None:
        report["sweep_executors"] = sweep_executors(seconds, connections, report_dir)
        (report_dir / "bench.json").write_text(json.dumps(report, indent=2))
        from flowhost.bench import plots

        try:
            plots.draw(report, report_dir)
        except ImportError:  # minutes of measuring are not lost for want of the plots
            print("no plots: matplotlib is not installed (pip install 'flowhost[bench]')")
    return report


def ratios(summaries: list[dict[str, object]]) -> dict[str, float]:
    by_name = {s["target"]: s for s in summaries}
    ours = by_name["flowhost"]
    out = {}
    for name, other in by_name.items():
        if name == "flowhost":
            continue
        out[f"rps_vs_{name}"] = float(ours["rps"]) / float(other["rps"])  # type: ignore[arg-type]
        out[f"p99_vs_{name}"] = float(ours["p99_ms"]) / float(other["p99_ms"])  # type: ignore[arg-type]
        # Within a round the targets run back to back, so a round's ratio cancels the
        # machine's drift between rounds (flowhost's two processes feel a lost core most).
        pairs = zip(ours["rps_runs"], other["rps_runs"], strict=True)  # type: ignore[call-overload]
        out[f"rps_vs_{name}_per_round_median"] = statistics.median(a / b for a, b in pairs)
    return out


#: The issue 17 sweep: one click at a time (1) up to a crowd (256).
SWEEP_CONNECTIONS = (1, 4, 16, 64, 256)


def sweep_connections(
    targets: list[Target], body: Path, seconds: float, rounds: int = 1
) -> list[dict[str, object]]:
    """Every target at each connection count, `rounds` times in turn (interleaved, as the
    rounds are; the order alternates so neither target always runs first): a row per target
    and count holds the medians, and each run's req/s and p50 for the per-round ratios."""
    rows: list[dict[str, object]] = []
    for connections in SWEEP_CONNECTIONS:
        loads: dict[str, list[Load]] = {target.name: [] for target in targets}
        for round_no in range(rounds):
            order = targets if round_no % 2 == 0 else targets[::-1]
            for target in order:
                load = target.load(body, connections, max(seconds / 2, 2))
                loads[target.name].append(load)
                shown = " ".join(
                    f"{n} {us:.0f} ({load.switches_per_request[n]:.1f} cs)"
                    for n, us in load.cpu_us_per_request.items()
                )
                print(
                    f"sweep c={connections:3d} round {round_no + 1}/{rounds} {target.name:14s} "
                    f"{load.result.rps:8.0f} req/s p50 {load.result.p50_ms:6.2f} ms "
                    f"p99 {load.result.p99_ms:6.1f} ms steal {load.steal_pct:4.1f}% "
                    f"CPU µs/req (context switches/req) {shown}",
                    flush=True,
                )
        for target in targets:
            runs = loads[target.name]
            results = [load.result for load in runs]
            rows.append(
                {
                    "target": target.name,
                    "connections": connections,
                    "rps": statistics.median(r.rps for r in results),
                    "p50_ms": statistics.median(r.p50_ms for r in results),
                    "p99_ms": statistics.median(r.p99_ms for r in results),
                    "errors": sum(r.errors for r in results),
                    "cpu_us_per_request": {
                        n: statistics.median(load.cpu_us_per_request[n] for load in runs)
                        for n in target.pids
                    },
                    "switches_per_request": {
                        n: statistics.median(load.switches_per_request[n] for load in runs)
                        for n in target.pids
                    },
                    "rps_runs": [r.rps for r in results],
                    "p50_runs": [r.p50_ms for r in results],
                    "steal_pct_runs": [round(load.steal_pct, 1) for load in runs],
                }
            )
    return rows


def sweep_ratios(rows: list[dict[str, Any]], peer: str) -> list[dict[str, float]]:
    """Per connection count: flowhost's throughput, p50 and p99 over the peer's (throughput
    above 1 and latencies below 1 are flowhost ahead), from the medians and, where the rows
    hold each round's runs, as the median of the per-round ratios (a round's two runs are back
    to back, so the machine's drift between rounds cancels); and flowhost's CPU per request
    summed over its processes."""
    by_count: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_count.setdefault(row["connections"], {})[row["target"]] = row
    out = []
    for connections, targets in by_count.items():
        ours, theirs = targets.get("flowhost"), targets.get(peer)
        if ours is None or theirs is None:
            continue
        ratio = {
            "connections": connections,
            "rps_ratio": ours["rps"] / max(theirs["rps"], 1e-9),
            "p50_ratio": ours["p50_ms"] / max(theirs["p50_ms"], 1e-9),
            "p99_ratio": ours["p99_ms"] / max(theirs["p99_ms"], 1e-9),
            "cpu_us_per_request": sum(ours.get("cpu_us_per_request", {}).values()),
        }
        for key in ("rps", "p50"):
            mine, peers = ours.get(f"{key}_runs", ()), theirs.get(f"{key}_runs", ())
            pairs = list(zip(mine, peers, strict=True)) if len(mine) == len(peers) else []
            if pairs:
                ratio[f"{key}_ratio_per_round_median"] = statistics.median(
                    a / max(b, 1e-9) for a, b in pairs
                )
        out.append(ratio)
    return out


def sweep_executors(seconds: float, connections: int, report_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="flowhost-bench-") as tmp:
        body = Path(tmp) / "quote.json"
        body.write_bytes(quote_request())
        for executors in (1, 2, 3, 4):
            with flowhost_target(Path(tmp) / f"cluster-{executors}", executors) as target:
                drive(target.url, body, target.auth, connections, 2)
                result = drive(target.url, body, target.auth, connections, max(seconds / 2, 2))
            rows.append(
                {
                    "executors": executors,
                    "rps": result.rps,
                    "p99_ms": result.p99_ms,
                    "errors": result.errors,
                }
            )
            print(
                f"sweep executors={executors} {result.rps:8.0f} req/s p99 {result.p99_ms:6.1f} ms",
                flush=True,
            )
    return rows


def print_report(report: dict[str, object]) -> None:
    print()
    print(
        f"quote action, {report['connections']} connections, {report['rounds']} interleaved rounds "
        f"of {report['seconds']}s, flowhost with {report['executors']} executor(s)"
    )
    print(
        f"{'target':14s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'p99.9 ms':>8s} "
        f"{'errors':>6s}  CPU µs/request"
    )
    for s in report["targets"]:  # type: ignore[attr-defined]
        cpu = ", ".join(f"{n} {v:.0f}" for n, v in s["cpu_us_per_request"].items())
        print(
            f"{s['target']:14s} {s['rps']:8.0f} {s['p50_ms']:7.2f} {s['p99_ms']:7.2f} "
            f"{s['p999_ms']:8.2f} {s['errors']:6d}  {cpu}"
        )
    for name, value in report["ratios"].items():  # type: ignore[attr-defined]
        print(f"{name}: {value:.2f}")
    rows = report.get("sweep_connections") or []
    if rows:
        print()
        print(
            f"{'connections':>11s} {'target':14s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s}  "
            "CPU µs/request"
        )
        for row in rows:  # type: ignore[attr-defined]
            cpu = ", ".join(f"{n} {v:.0f}" for n, v in row["cpu_us_per_request"].items())
            print(
                f"{row['connections']:11d} {row['target']:14s} {row['rps']:8.0f} "
                f"{row['p50_ms']:7.2f} {row['p99_ms']:7.2f}  {cpu}"
            )
    ratios = report.get("sweep_ratios") or []
    if ratios:
        print()
        print(
            "flowhost over the peer per connection count (req/s: higher is better; p50, p99: lower)"
        )
        print(
            f"{'connections':>11s} {'req/s':>6s} {'p50':>6s} {'p99':>6s}  "
            f"{'per round: req/s':>16s} {'p50':>6s}  flowhost CPU µs/request"
        )
        for row in ratios:  # type: ignore[attr-defined]
            per_round = (
                f"{row['rps_ratio_per_round_median']:15.2f}x "
                f"{row['p50_ratio_per_round_median']:5.2f}x"
                if "rps_ratio_per_round_median" in row
                else f"{'':16s} {'':6s}"
            )
            print(
                f"{row['connections']:11d} {row['rps_ratio']:5.2f}x {row['p50_ratio']:5.2f}x "
                f"{row['p99_ratio']:5.2f}x  {per_round}  {row['cpu_us_per_request']:.0f}"
            )
