"""What the executor link's authentication costs: the quote action through clusters whose link
differs, interleaved in one run.

    .venv/bin/python scripts/link_bench.py [--seconds 3] [--rounds 10] [--connections 64]
        [--before DIR]

Targets, each a gateway and one executor, driven with wrk in turn within every round (the order
rotates each round): `token` and `token-again` (the same setting twice: an A/A control of how far
apart two identical clusters measure on this machine), `mtls`, and with `--before DIR` `before`,
the code of DIR (a tree from before the link was authenticated, e.g. `git archive <commit> | tar
-x -C DIR`) run with PYTHONPATH=DIR. Prints each target's median and the median of its per-round
ratios to the reference (`before` when given, else `token`), and the gateway's plus the executor's
CPU per request (steadier than throughput on a shared machine: contention lowers throughput, not
the work a request needs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowhost.bench.driver import drive
from flowhost.bench.run import PACKAGE, Target, flowhost_target, quote_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--before", type=Path, help="A source tree from before the link auth.")
    parser.add_argument(
        "--micro",
        action="store_true",
        help="Instead: one process, real gRPC, three executors in it (no gate, token, mTLS) "
        "driven in turn with 64 executions in flight; executions/s and CPU per execution.",
    )
    args = parser.parse_args()
    if args.micro:
        import asyncio

        source = PACKAGE.read_text()
        return asyncio.run(micro(source, args.seconds, args.rounds, args.connections))
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
        cpu: dict[str, list[float]] = {t.name: [] for t in targets}
        for round_ in range(args.rounds):
            shift = round_ % len(targets)
            for target in targets[shift:] + targets[:shift]:
                result = target.measure(body, args.connections, args.seconds)
                rps[target.name].append(result.rps)
                spent = target.cpu_us_per_request[-1]
                cpu[target.name].append(spent["gateway"] + spent["executor-1"])
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
            f"{name:12} gateway+executor CPU {statistics.median(cpu[name]):5.1f} us/request; "
            f"median {statistics.median(runs):8.0f} req/s; per-round ratio to "
            f"{reference}: median {100 * (statistics.median(ratios) - 1):+.1f}% "
            f"(quartiles {100 * (spread[0] - 1):+.1f}% .. {100 * (spread[2] - 1):+.1f}%)"
        )
    return 0


async def micro(source: str, seconds: float, rounds: int, in_flight: int) -> int:
    """The link's cost on the execution stream itself, without HTTP or wrk: gateway-side
    ExecutorConnections drive three in-process servers of one executor servicer (one Host):
    `open` has no gate (the link before it was authenticated), `token` the gate, `mtls` TLS."""
    import asyncio
    import time

    import grpc
    import httpx

    from executors.host import Host
    from executors.link import LinkCredentials, TlsFiles
    from executors.servicer import ExecutorServicer
    from flowhost.link import ensure_link
    from gateway.executor_client import ExecutorConnection
    from gateway.link import ClusterLink
    from gateway.translate import Execution
    from protos.flowhost.v1 import executor_pb2_grpc

    token = "micro-benchmark-cluster-token"
    key = "bench@1.0.0"
    with tempfile.TemporaryDirectory() as tmp, ExitStack():
        files = ensure_link(Path(tmp), mtls=True)
        assert files.ca and files.gateway_cert and files.gateway_key
        assert files.executor_cert and files.executor_key
        tls = (
            files.gateway_cert.read_bytes(),
            files.gateway_key.read_bytes(),
            files.ca.read_bytes(),
        )
        http = httpx.AsyncClient()
        host = Host(http, 10_000)
        assert await host.deploy(key, source) == []
        servers: list[grpc.aio.Server] = []

        async def serve(link: LinkCredentials) -> str:
            """The executor's servicer on a server built as ExecutorServer builds it, with the
            gate only when the link has a token, and TLS only when it has certificates."""
            server = grpc.aio.server(interceptors=[link.gate()] if link.tokens else [])
            servicer = ExecutorServicer(host, "default", f"arm{len(servers)}", 256, link)
            executor_pb2_grpc.add_ExecutorServicer_to_server(servicer, server)
            credentials = link.server_credentials()
            if credentials is None:
                port = server.add_insecure_port("127.0.0.1:0")
            else:
                port = server.add_secure_port("127.0.0.1:0", credentials)
            await server.start()
            servers.append(server)
            return f"127.0.0.1:{port}"

        certificates = TlsFiles(
            files.executor_cert.read_bytes(), files.executor_key.read_bytes(), files.ca.read_bytes()
        )
        open_address = await serve(LinkCredentials((), None))
        token_address = await serve(LinkCredentials((token.encode(),), None))
        mtls_address = await serve(LinkCredentials((), certificates))
        arms: dict[str, ExecutorConnection] = {
            "open": ExecutorConnection(open_address, ClusterLink("", None, "")),
            "token": ExecutorConnection(token_address, ClusterLink(token, None, "")),
            "mtls": ExecutorConnection(mtls_address, ClusterLink("", tls, "flowhost-executor")),
        }
        for connection in arms.values():
            await connection.deploy(key, source)
            await connection.open_stream()
        execution = Execution(
            deployment=key,
            process="quote",
            documents=[(b'{"sku": "ab-100", "quantity": 3, "unitPrice": 12.5}', {})],
            execution_id="micro",
        )

        async def drive_arm(connection: ExecutorConnection, span: float) -> int:
            done = 0
            stop = time.monotonic() + span

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    result = await connection.execute(execution, 10)
                    assert result.status == "ok", result
                    done += 1

            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return done

        rates: dict[str, list[float]] = {name: [] for name in arms}
        cpu: dict[str, list[float]] = {name: [] for name in arms}
        names = list(arms)
        for name in names:
            await drive_arm(arms[name], 1.0)  # warm up
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                started, spent = time.monotonic(), time.process_time()
                done = await drive_arm(arms[name], seconds)
                wall, used = time.monotonic() - started, time.process_time() - spent
                rates[name].append(done / wall)
                cpu[name].append(used / done * 1e6)
                print(
                    f"round {round_ + 1}: {name:6} {done / wall:8.0f} executions/s "
                    f"{used / done * 1e6:6.1f} us CPU each",
                    flush=True,
                )
        for connection in arms.values():
            await connection.close()
        for server in servers:
            await server.stop(None)
        await host.drain(0)
        await http.aclose()
    print(f"\n{in_flight} executions in flight, {rounds} rounds of {seconds:g}s, one process")
    for name in names:
        ratios = [a / b for a, b in zip(rates[name], rates["open"], strict=True)]
        cpu_ratios = [a / b for a, b in zip(cpu[name], cpu["open"], strict=True)]
        print(
            f"{name:6} {statistics.median(rates[name]):8.0f} executions/s, "
            f"{statistics.median(cpu[name]):5.1f} us CPU each; per-round vs open: throughput "
            f"{100 * (statistics.median(ratios) - 1):+.1f}%, CPU "
            f"{100 * (statistics.median(cpu_ratios) - 1):+.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
