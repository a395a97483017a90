"""Throughput of the quote action with execution history on vs off, interleaved in one run.

    .venv/bin/python scripts/history_bench.py [--seconds 3] [--rounds 12] [--connections 64]

Starts one cluster (a gateway and one executor) and drives it with wrk in rounds; within each
round it measures with history recording on and paused (`PUT /api/history`), in alternating
order, so the same processes serve both and the machine's drift hits both alike; after each
switch it waits `--settle` seconds, so what one setting queued is written before the other is
measured (with 1 s rounds and no wait, "off" right after "on" measured 7% better than "off" right
after "off": it absorbed the last blocks of "on"). (Two clusters,
one per setting, differed by ~7% with history off in both: where each lands on the machine
matters more than the history.) Prints the medians and the median of the per-round ratios
(goal: under 5% apart).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowhost.bench.driver import drive
from flowhost.bench.run import flowhost_target, quote_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="Seconds without load after each switch: what one setting queued is written "
        "before the other is measured.",
    )
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--control",
        action="store_true",
        help="Leave recording off in both arms (an A/A run): how far apart the method measures "
        "two identical settings on this machine.",
    )
    parser.add_argument(
        "--micro",
        action="store_true",
        help="Only measure the gateway CPU the history costs per execution, in-process "
        "(record + block + insert on SQLite): steady where a loaded machine is not.",
    )
    args = parser.parse_args()
    if args.micro:
        return micro()
    settings = ("history on", "history off")
    rps: dict[str, list[float]] = {name: [] for name in settings}
    cpu: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp, flowhost_target(Path(tmp) / "cluster", 1) as target:
        body = Path(tmp) / "quote.json"
        body.write_bytes(quote_request())
        assert target.cluster is not None
        with target.cluster.client() as client:
            drive(target.url, body, target.auth, args.connections, 2)  # warm up
            for round_ in range(args.rounds):
                for name in settings if round_ % 2 == 0 else reversed(settings):
                    client.recording(name == "history on" and not args.control)
                    time.sleep(args.settle)
                    result = target.measure(body, args.connections, args.seconds)
                    spent = target.cpu_us_per_request[-1]
                    rps[name].append(result.rps)
                    cpu[name].append(spent["gateway"])
                    print(
                        f"round {round_ + 1}: {name:12} {result.rps:8.0f} req/s "
                        f"p99 {result.p99_ms:.1f} ms errors {result.errors} CPU us/request: "
                        + ", ".join(f"{process} {us:.1f}" for process, us in spent.items()),
                        flush=True,
                    )
            client.recording(True)
    on = statistics.median(rps["history on"])
    off = statistics.median(rps["history off"])
    cpu_on = statistics.median(cpu["history on"])
    cpu_off = statistics.median(cpu["history off"])
    print(
        f"gateway CPU per request (median): history on {cpu_on:.0f} us, off {cpu_off:.0f} us: "
        f"{100 * (cpu_on - cpu_off) / cpu_off:+.1f}%"
    )
    print(
        f"median: history on {on:.0f} req/s, off {off:.0f} req/s: "
        f"on is {100 * (on - off) / off:+.1f}% vs off"
    )
    # Each round measures both back to back (in alternating order), so the ratio within a
    # round cancels the machine's drift between rounds; its median is the steadier figure.
    ratios = [a / b for a, b in zip(rps["history on"], rps["history off"], strict=True)]
    low, high = _median_interval(ratios)
    print(
        f"median of the per-round ratios: on is {100 * (statistics.median(ratios) - 1):+.1f}% "
        f"vs off (95% bootstrap interval {100 * (low - 1):+.1f}% to {100 * (high - 1):+.1f}%)"
        + (" [control: recording was off in both]" if args.control else "")
    )
    return 0


def _median_interval(values: list[float], resamples: int = 4000) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval for the median of `values`."""
    chooser = random.Random(1)
    medians = sorted(
        statistics.median(chooser.choices(values, k=len(values))) for _ in range(resamples)
    )
    return medians[int(resamples * 0.025)], medians[int(resamples * 0.975) - 1]


def micro(count: int = 50_000) -> int:
    import asyncio
    import time

    from gateway.history.record import History, Summary
    from gateway.history.store import HistoryStore
    from gateway.store import Store
    from gateway.translate import ExecutionResult

    # The trace as the executor sends it (executors/translate.py, trace_json).
    trace = (
        b'[["processes.quote.steps[0]","map",12,1,1,""],'
        b'["processes.quote.steps[1]","return",3,1,0,""]]'
    )
    result = ExecutionResult("ok", [(b'{"total": 37.5, "sku": "AB-100"}', {})], trace=trace)
    with tempfile.TemporaryDirectory() as tmp, Store(f"sqlite:///{tmp}/h.db") as store:
        history = History(HistoryStore(store.engine), batch=500, queue_max=count)
        started = time.process_time()
        for i in range(count):
            history.record(
                Summary(
                    f"a1b2c3d4-{i:x}", ("default", "bench", "1.0.0", "quote", "quote"),
                    "127.0.0.1:50051", time.time(), "FORWARD", result,
                )
            )  # fmt: skip
        recorded = time.process_time()
        asyncio.run(history.flush())
        done = time.process_time()
    per_record = (recorded - started) / count * 1e6
    per_write = (done - recorded) / count * 1e6
    print(
        f"history CPU per execution: {per_record:.1f} us on the request path (record), "
        f"{per_write:.1f} us in the background (block + insert), "
        f"{per_record + per_write:.1f} us in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
