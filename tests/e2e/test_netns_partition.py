"""Executors on other machines: the gateway in one network namespace, executors in two others,
each joined to the gateway's by a veth pair.

- A 10 s partition of one executor under load: no request takes longer than its deadline (plus
  a small grace); requests fail over to the other executor or fail with a clear ServiceProblem;
  after healing, the executor is routable again by itself.
- 20 ms of round-trip latency (a proxy delaying each chunk 10 ms each way) between the gateway
  and one executor costs a Flow request those 20 ms and no more: requests are pipelined on the
  executor's stream, with no extra round trip per request.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from flowhost.link import ensure_link
from tests.e2e.processes import ROOT, Process, clean_env, python
from tests.netns import Star, in_ns, star

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

PACKAGE = Path(__file__).parent / "packages" / "e2e.yaml"
ADMIN_PASSWORD = "netns-admin-password"
PORT = 50051  # inside namespaces made for the test: nothing else listens there
DEADLINE_S = 2.0  # the gateway's execution deadline (FLOWHOST_DEFAULT_TIMEOUT_S)
PARTITION_S = 10.0
DELAY_S = 0.010  # each way, per chunk: 20 ms a round trip


class Machines:
    """Executors in the spokes, a gateway (and optionally a proxy) in the hub."""

    def __init__(self, net: Star, folder: Path) -> None:
        self.net = net
        self.folder = folder
        self.processes: list[Process] = []

    def boot(self, runtimes: list[str], targets: list[str]) -> None:
        folder = self.folder
        net = self.net
        link = ensure_link(folder / "link", mtls=False)
        for spoke, runtime in zip(net.spokes, runtimes, strict=True):
            env = clean_env(
                FLOWHOST_EXECUTOR_RUNTIME=runtime,
                FLOWHOST_EXECUTOR_HOST=spoke.address,
                FLOWHOST_EXECUTOR_PORT=str(PORT),
                **link.executor_env(),
            )
            self.start(
                f"executor-{spoke.address}",
                python("executors", *in_ns(spoke.namespace)),
                env,
                folder,
            )
        gateway_env = clean_env(
            FLOWHOST_HOST="127.0.0.1",
            FLOWHOST_PORT="8080",
            FLOWHOST_DATA_DIR=str(folder / "gateway"),
            FLOWHOST_ADMIN_PASSWORD=ADMIN_PASSWORD,
            FLOWHOST_EXECUTOR_TARGETS=",".join(targets),
            FLOWHOST_DISCOVERY_INTERVAL_S="0.5",
            FLOWHOST_DEFAULT_TIMEOUT_S=str(DEADLINE_S),
            **link.gateway_env(),
        )
        self.start("gateway", python("gateway", *in_ns(net.hub)), gateway_env, folder)

    def start(self, name: str, command: list[str], env: dict[str, str], folder: Path) -> Process:
        process = Process(name, command, env, folder / f"{name}.log").start()
        self.processes.append(process)
        return process

    def client(self, *args: str) -> subprocess.Popen[str]:
        """The Flow client, in the gateway's namespace."""
        return subprocess.Popen(
            in_ns(self.net.hub, *python("tests.e2e.netns_load"), *args),
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-2500:]}" for p in self.processes)


def _line(stream: IO[str] | None, machines: Machines, client: subprocess.Popen[str]) -> Any:
    assert stream is not None
    line = stream.readline()
    if not line:
        client.wait(5)
        raise AssertionError(
            f"the client said nothing: {client.stderr and client.stderr.read()}\n{machines.logs()}"
        )
    return json.loads(line)


def _end(client: subprocess.Popen[str]) -> None:
    if client.poll() is None:
        client.kill()
    client.wait(10)
    for stream in (client.stdin, client.stdout, client.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def machines(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Machines]:
    kind: str = request.param
    with star(2) as net:
        first, second = net.spokes
        running = Machines(net, tmp_path)
        try:
            if kind == "partition":
                running.boot(["default", "default"], [f"{s.address}:{PORT}" for s in net.spokes])
            else:
                proxy = f"127.0.0.1:{PORT + 10}"
                running.boot(["direct", "proxied"], [f"{first.address}:{PORT}", proxy])
                running.start(
                    "proxy",
                    in_ns(
                        net.hub,
                        *python("tests.netns"),
                        *("proxy", proxy, f"{second.address}:{PORT}", str(DELAY_S)),
                    ),
                    clean_env(),
                    tmp_path,
                )
            yield running
        finally:
            running.close()


@pytest.mark.parametrize("machines", ["partition"], indirect=True)
def test_a_partitioned_executor_fails_over_and_rejoins_by_itself(machines: Machines) -> None:
    watched = machines.net.spokes[0]
    client = machines.client(
        "partition", "http://127.0.0.1:8080", str(PACKAGE), f"{watched.address}:{PORT}"
    )
    try:
        assert _line(client.stdout, machines, client) == {"phase": "loading"}
        assert client.stdin is not None
        time.sleep(1.0)
        machines.net.partition(watched)
        client.stdin.write("cut\n")
        client.stdin.flush()
        time.sleep(PARTITION_S)
        machines.net.heal(watched)
        client.stdin.write("healed\n")
        client.stdin.flush()
        seen = _line(client.stdout, machines, client)
    finally:
        _end(client)
    failed = seen.pop("failed")
    print(f"\npartition of {seen['partition_s']:.1f}s under load: {json.dumps(seen)}")
    print(f"failed: {len(failed)}: {failed[:3]}")
    assert seen["partition_s"] >= PARTITION_S
    assert seen["slowest_s"] <= DEADLINE_S + 1.5, machines.logs()
    # Most requests during the partition went to the other executor ...
    assert seen["during"] > 20 and seen["during_ok"] >= seen["during"] * 0.8, seen
    # ... and those that did not failed clearly: a ServiceProblem naming what happened.
    for status, problem in failed:
        assert status in (502, 503, 504), (status, problem)
        assert json.loads(problem)["message"], problem
    assert seen["not_ready_after_s"] is not None and seen["not_ready_after_s"] < 8, seen
    assert seen["rejoined_after_s"] is not None and seen["rejoined_after_s"] < 5, seen


@pytest.mark.parametrize("machines", ["latency"], indirect=True)
def test_link_latency_costs_what_it_must_and_no_more(machines: Machines) -> None:
    client = machines.client("latency", "http://127.0.0.1:8080", str(PACKAGE), "60")
    try:
        seen = _line(client.stdout, machines, client)
    finally:
        _end(client)
    direct, proxied = seen["p50_ms"]["direct"], seen["p50_ms"]["proxied"]
    injected_ms = 2 * DELAY_S * 1000
    extra = proxied - direct
    print(
        f"\np50 direct {direct:.1f} ms, through the 2x{DELAY_S * 1000:g} ms proxy "
        f"{proxied:.1f} ms: "
        f"+{extra:.1f} ms for {injected_ms:g} ms injected (p90 {json.dumps(seen['p90_ms'])})"
    )
    assert injected_ms - 2 <= extra <= injected_ms * 1.5 + 5, seen
