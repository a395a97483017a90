"""What the gateway's HTTP protocol costs against uvicorn's own, on one small app.

    python -m flowhost.bench.http_protocol_bench [--seconds 5] [--rounds 4] [--connections 64]

Two uvicorn servers (one process each, uvloop when installed) answer a small JSON POST, one
with uvicorn's httptools protocol, one with the gateway's (`GatewayHttpProtocol`, at the
default limits, so also a reconnect every 1000 requests); wrk drives them in interleaved rounds
and the figures are printed per round and as medians: throughput, latency, and the server's CPU
time per request (from /proc; it moves much less than throughput when other work shares the
machine).
Nothing is asserted: it is a measurement.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flowhost.bench.driver import drive

ANSWER = b'{"invokeType":"FORWARD","outputs":[{"developerName":"total","contentValue":"37.5"}]}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def serve(kind: str, port: int) -> None:
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from gateway.http import GatewayHttpProtocol, HttpLimits

    protocol = (
        HttpToolsProtocol if kind == "uvicorn" else GatewayHttpProtocol.with_limits(HttpLimits())
    )
    uvicorn.run(app, host="127.0.0.1", port=port, http=protocol, log_level="warning",
                access_log=False, lifespan="off")  # fmt: skip


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    kinds = ("uvicorn", "gateway")
    ports = {kind: _free_port() for kind in kinds}
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "flowhost.bench.http_protocol_bench", "--serve", k, str(p)]
        )
        for k, p in ports.items()
    ]
    pids = {kind: server.pid for kind, server in zip(kinds, servers, strict=True)}
    results: dict[str, list[tuple[float, float, float, float]]] = {kind: [] for kind in kinds}
    try:
        for port in ports.values():
            _wait(port)
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / "body.json"
            body.write_bytes(b'{"inputs": []}')
            for port in ports.values():  # warm-up
                drive(f"http://127.0.0.1:{port}/fs/x", body, "", args.connections, 2)
            for round_ in range(args.rounds):
                order = kinds if round_ % 2 == 0 else kinds[::-1]
                for kind in order:
                    url = f"http://127.0.0.1:{ports[kind]}/fs/x"
                    cpu = _cpu_s(pids[kind])
                    result = drive(url, body, "", args.connections, args.seconds)
                    cpu_us = (_cpu_s(pids[kind]) - cpu) / max(1, result.requests) * 1e6
                    results[kind].append((result.rps, result.p50_ms, result.p99_ms, cpu_us))
                    print(
                        f"round {round_ + 1} {kind:10} {result.rps:8.0f} req/s  "
                        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
                        f"cpu {cpu_us:.1f} us/request  errors {result.errors}",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
    base = statistics.median(r[0] for r in results["uvicorn"])
    base_cpu = statistics.median(r[3] for r in results["uvicorn"])
    for kind in kinds:
        rps = statistics.median(r[0] for r in results[kind])
        p99 = statistics.median(r[2] for r in results[kind])
        cpu_us = statistics.median(r[3] for r in results[kind])
        print(
            f"median {kind:10} {rps:8.0f} req/s ({rps / base - 1:+.1%})  p99 {p99:.2f} ms  "
            f"cpu {cpu_us:.1f} us/request ({cpu_us / base_cpu - 1:+.1%})"
        )


if __name__ == "__main__":
    main()
