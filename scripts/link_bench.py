"""What the executor link's authentication costs: the quote action through clusters whose link
differs, interleaved in one run.

    .venv/bin/python scripts/link_bench.py [--seconds 3] [--rounds 10] [--connections 64]
        [--before DIR]

Targets, each a gateway and one executor, driven with wrk in turn within every round (the order
rotates each round): `token` and `token-again` (the same setting twice: an A/A control of how far
apart two identical clusters measure on this machine), `mtls`, and with `--before DIR` `before`,
the code of DIR (a tree from before the link was authenticated, e.g. `git archive <commit> | tar
-x -C DIR`) run with PYTHONPATH=DIR. Prints each target's median and the median of its per-round
ratios to the reference (`before` when given, else `token`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.driver import drive
from bench.run import Target, flowhost_target, quote_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--before", type=Path, help="A source tree from before the link auth.")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="link-bench-")))
        body = tmp / "quote.json"
        body.write_bytes(quote_request())
        targets: list[Target] = []
        if args.before is not None:
            env = {"PYTHONPATH": str(args.before.resolve())}
            targets.append(
                stack.enter_context(flowhost_target(tmp / "before", 1, env=env, name="before"))
            )
        targets.append(stack.enter_context(flowhost_target(tmp / "token", 1, name="token")))
        targets.append(stack.enter_context(flowhost_target(tmp / "token2", 1, name="token-again")))
        targets.append(
            stack.enter_context(flowhost_target(tmp / "mtls", 1, mtls=True, name="mtls"))
        )
        for target in targets:
            drive(target.url, body, target.auth, args.connections, 2)  # warm up
        rps: dict[str, list[float]] = {t.name: [] for t in targets}
        for round_ in range(args.rounds):
            shift = round_ % len(targets)
            for target in targets[shift:] + targets[:shift]:
                result = target.measure(body, args.connections, args.seconds)
                rps[target.name].append(result.rps)
                spent = target.cpu_us_per_request[-1]
                print(
                    f"round {round_ + 1}: {target.name:12} {result.rps:8.0f} req/s "
                    f"p99 {result.p99_ms:.1f} ms errors {result.errors} CPU us/request: "
                    + ", ".join(f"{process} {us:.0f}" for process, us in spent.items()),
                    flush=True,
                )
    reference = targets[0].name
    print(f"\n{args.connections} connections, {args.rounds} rounds of {args.seconds:g}s")
    for name, runs in rps.items():
        ratios = [a / b for a, b in zip(runs, rps[reference], strict=True)]
        spread = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [1.0, 1.0, 1.0]
        print(
            f"{name:12} median {statistics.median(runs):8.0f} req/s; per-round ratio to "
            f"{reference}: median {100 * (statistics.median(ratios) - 1):+.1f}% "
            f"(quartiles {100 * (spread[0] - 1):+.1f}% .. {100 * (spread[2] - 1):+.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
