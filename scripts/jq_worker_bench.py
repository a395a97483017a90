"""What the jq worker costs: one libjq program run in-process vs through a worker process.

    .venv/bin/python scripts/jq_worker_bench.py [--rounds 5000]

Prints µs per evaluation for each way, interleaved in rounds so a noisy machine hits both alike.
The figure in executors/runtime/jqworkers.py's docstring comes from here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import jq
import orjson

from executors.runtime.jqworkers import JqWorkers

PROGRAM = "[.items[] | .qty] | add"
DOCUMENT = orjson.dumps(
    {"orderId": "o-1", "customer": "Ann", "items": [{"sku": f"s{i}", "qty": i} for i in range(6)]}
).decode()
BIG = 1 << 30


async def main(rounds: int, batch: int) -> None:
    compiled = jq.compile(PROGRAM)
    workers = JqWorkers(size=1)
    await workers.start()
    inproc: list[float] = []
    worker: list[float] = []
    assert list(compiled.input_text(DOCUMENT)) == await workers.run(PROGRAM, DOCUMENT, 1, BIG, BIG)
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            list(compiled.input_text(DOCUMENT))
        inproc.append((time.perf_counter() - start) / batch * 1e6)
        start = time.perf_counter()
        for _ in range(batch):
            await workers.run(PROGRAM, DOCUMENT, 10_000, BIG, BIG)
        worker.append((time.perf_counter() - start) / batch * 1e6)
    await workers.aclose()
    print(f"document {len(DOCUMENT)} bytes, program {PROGRAM!r}, {rounds} rounds of {batch}")
    for name, figures in (("in-process libjq", inproc), ("jq worker", worker)):
        q = statistics.quantiles(figures, n=10)
        print(
            f"{name:18} median {statistics.median(figures):6.1f} µs"
            f"  p10 {q[0]:6.1f}  p90 {q[-1]:6.1f}"
        )
    print(f"round trip cost    {statistics.median(worker) - statistics.median(inproc):6.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    arguments = parser.parse_args()
    try:  # the executor runs on uvloop when installed
        import uvloop

        uvloop.run(main(arguments.rounds, arguments.batch))
    except ImportError:
        asyncio.run(main(arguments.rounds, arguments.batch))
