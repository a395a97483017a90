"""Before/after on the quote benchmark: two clusters, one per source tree, measured in turns.

    .venv/bin/python scripts/deadline_ab.py /path/to/other/tree [--rounds 6 --seconds 6]

The other tree (e.g. ``git archive <commit> | tar -x -C /tmp/before``) runs through PYTHONPATH;
this tree is "after". Each round drives both once, in alternating order, so drift on a shared
machine hits both alike; the per-round ratio after/before is the figure. With the same tree
twice it is an A/A control (how noisy the machine is).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from flowhost.bench.driver import drive
from flowhost.bench.run import flowhost_target, quote_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--before-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Environment for the before cluster only (e.g. GRPC_EXPERIMENTS= for grpc's default).",
    )
    arguments = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deadline-ab-")))
        body = tmp / "quote.json"
        body.write_bytes(quote_request())
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(arguments.before.resolve())
        before_env = dict(pair.split("=", 1) for pair in arguments.before_env)
        before = stack.enter_context(flowhost_target(tmp / "before", 1, env=before_env))
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
        after = stack.enter_context(flowhost_target(tmp / "after", 1))
        for target in (before, after):
            drive(target.url, body, target.auth, arguments.connections, 3.0)
        ratios = []
        for round_no in range(arguments.rounds):
            order = (before, after) if round_no % 2 == 0 else (after, before)
            rps = {}
            for target, name in ((t, "before" if t is before else "after") for t in order):
                result = target.measure(body, arguments.connections, arguments.seconds)
                rps[name] = result.rps
                print(
                    f"round {round_no + 1} {name:6s} {result.rps:8.0f} req/s "
                    f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:6.1f} ms "
                    f"errors {result.errors}",
                    flush=True,
                )
            ratios.append(rps["after"] / rps["before"])
            print(f"round {round_no + 1} after/before {ratios[-1]:.3f}", flush=True)
        print(f"ratios: {' '.join(f'{r:.3f}' for r in ratios)}")
        for name, target in (("before", before), ("after", after)):
            cpu = {
                process: statistics.median(run[process] for run in target.cpu_us_per_request)
                for process in target.pids
            }
            shown = " ".join(f"{process} {us:.0f}" for process, us in cpu.items())
            print(f"{name} CPU µs per request (median): {shown} total {sum(cpu.values()):.0f}")
            switches = {
                process: statistics.median(run[process] for run in target.switches_per_request)
                for process in target.pids
            }
            shown = " ".join(f"{process} {n:.2f}" for process, n in switches.items())
            print(f"{name} context switches per request (median): {shown}")
        print(
            f"median after/before: {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
