"""The executor link, tried as a stranger would: a raw gRPC client without the cluster's token, a
gateway of another cluster, and a second `flowhost up` started beside a first one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from flowhost.client import CLIENT_HEADERS, admin_from
from flowhost.devcluster import Cluster, free_port
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc
from tests.e2e.cluster import assert_eventually
from tests.security.conftest import assert_serving

ROOT = Path(__file__).resolve().parents[2]
TOKEN_KEY = "x-flowhost-cluster-token"
STRANGER = """
name: stranger
version: 9.9.9
service:
  path: stranger
processes:
  noop:
    steps:
      - return: {}
"""


def _executors(cluster: Cluster) -> list[dict[str, Any]]:
    with cluster.client() as client:
        found: list[dict[str, Any]] = client.request("GET", "/api/executors")
    return found


def _deployments(cluster: Cluster) -> dict[str, list[str]]:
    return {e["address"]: e["deployments"] for e in _executors(cluster)}


def _token(cluster: Cluster) -> str:
    assert cluster.link is not None
    return cluster.link.token.read_text().strip()


def _calls(
    channel: grpc.Channel, metadata: tuple[tuple[str, str], ...], deployed: str
) -> dict[str, Callable[[], object]]:
    """Every kind of call an executor serves, made raw with `metadata`."""
    stub = pb_grpc.ExecutorStub(channel)
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    return {
        "Describe": lambda: stub.Describe(pb.DescribeRequest(), metadata=metadata),
        "Deploy": lambda: stub.Deploy(
            pb.DeployRequest(key="stranger@9.9.9", source=STRANGER), metadata=metadata
        ),
        "Undeploy": lambda: stub.Undeploy(pb.UndeployRequest(key=deployed), metadata=metadata),
        "Execute": lambda: list(
            stub.Execute(iter([pb.RequestBatch()]), metadata=metadata, timeout=5)
        ),
        "Reflection": lambda: list(
            reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                metadata=metadata,
                timeout=5,
            )
        ),
    }


@pytest.mark.parametrize(
    "metadata",
    [(), ((TOKEN_KEY, "not-the-cluster-token-at-all"),)],
    ids=["no-token", "wrong-token"],
)
def test_an_executor_answers_only_its_cluster(
    cluster: Cluster, flow_auth: tuple[str, str], metadata: tuple[tuple[str, str], ...]
) -> None:
    before = _deployments(cluster)
    for address in before:
        with grpc.insecure_channel(address) as channel:
            calls = _calls(channel, metadata, before[address][0])
            for name, call in calls.items():
                with pytest.raises(grpc.RpcError) as raised:
                    call()
                assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
                assert "cluster" in (raised.value.details() or ""), name
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert _deployments(cluster) == before
    assert_serving(cluster, flow_auth)


def test_the_cluster_token_opens_the_executor(cluster: Cluster) -> None:
    """The control: with the cluster's own token the same raw call is answered."""
    address = next(iter(_deployments(cluster)))
    with grpc.insecure_channel(address) as channel:
        reply = pb_grpc.ExecutorStub(channel).Describe(
            pb.DescribeRequest(), metadata=((TOKEN_KEY, _token(cluster)),), timeout=5
        )
    assert reply.runtime == "default"


@pytest.fixture
def stranger_gateway(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A gateway of another cluster (its own token), pointed at this cluster's executors."""
    port = free_port()
    env = {
        **os.environ,
        "FLOWHOST_PORT": str(port),
        "FLOWHOST_DATA_DIR": str(tmp_path / "stranger"),
        "FLOWHOST_ADMIN_PASSWORD": "stranger-admin-password",
        "FLOWHOST_EXECUTOR_TARGETS": ",".join(_deployments(cluster)),
        "FLOWHOST_DISCOVERY_INTERVAL_S": "0.5",
        "FLOWHOST_LINK_TOKEN": "another-cluster-token-entirely",
    }
    log = (tmp_path / "stranger-gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def test_a_gateway_with_the_wrong_token_is_refused(
    cluster: Cluster, flow_auth: tuple[str, str], stranger_gateway: str, tmp_path: Path
) -> None:
    before = _deployments(cluster)
    auth = ("admin", "stranger-admin-password")

    def refused() -> list[dict[str, Any]]:
        try:
            answer = httpx.get(f"{stranger_gateway}/api/executors", auth=auth, timeout=5)
        except httpx.HTTPError as error:
            raise AssertionError(f"the stranger gateway is not up yet: {error}") from None
        executors = answer.json()
        assert len(executors) == len(before)
        for executor in executors:
            assert not executor["ready"]
            assert executor["problem"].startswith("not of this cluster: it refused"), executor
        return list(executors)

    assert_eventually(refused, timeout_s=30)
    # With no executor of its cluster it cannot even validate a package, let alone deploy one.
    deploy = httpx.post(
        f"{stranger_gateway}/api/runtimes/default/packages",
        content=STRANGER,
        headers={"content-type": "application/yaml", **CLIENT_HEADERS},
        auth=auth,
        timeout=30,
    )
    assert deploy.status_code == 503, deploy.text
    time.sleep(1.5)  # a few more discovery rounds
    refused()
    log = (tmp_path / "stranger-gateway.log").read_text()
    for address in before:
        # Said once, not every discovery round.
        assert log.count(f"executor {address} not ready: not of this cluster") == 1, log
    assert _deployments(cluster) == before
    assert_serving(cluster, flow_auth)


def _up(*args: str, data_dir: Path, examples: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "flowhost.cli.main", "up", "--data-dir", str(data_dir)),
            *("--examples", str(examples), "--executors", "1", *args),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def stranger_examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "stranger.yaml").write_text(STRANGER)
    return folder


def test_a_second_up_on_the_same_http_port_stops_naming_it(
    cluster: Cluster, tmp_path: Path, stranger_examples: Path
) -> None:
    before = _deployments(cluster)
    second = _up(
        "--http-port", str(cluster.http_port), data_dir=tmp_path / "b", examples=stranger_examples
    )
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"port {cluster.http_port} on 127.0.0.1 (the gateway's HTTP port" in err
    assert "flowhost is up" not in out
    assert not (tmp_path / "b" / "logs").exists(), "nothing may start"
    assert _deployments(cluster) == before


def test_a_second_up_on_the_same_executor_ports_stops_naming_it(
    cluster: Cluster, tmp_path: Path, stranger_examples: Path
) -> None:
    before = _deployments(cluster)
    taken = int(sorted(before)[0].rsplit(":", 1)[1])
    second = _up(
        "--http-port",
        str(free_port()),
        "--executor-port",
        str(taken),
        data_dir=tmp_path / "b",
        examples=stranger_examples,
    )
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"port {taken} on 127.0.0.1 (executor-1's gRPC port" in err
    assert "flowhost is up" not in out
    assert _deployments(cluster) == before


def test_a_second_up_on_the_same_data_folder_stops(
    cluster: Cluster, stranger_examples: Path
) -> None:
    second = _up(
        "--http-port", str(free_port()), data_dir=cluster.data_dir, examples=stranger_examples
    )
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert f"another flowhost up is using the data folder {cluster.data_dir}" in err


def test_a_second_up_beside_runs_on_its_own_ports(
    cluster: Cluster, flow_auth: tuple[str, str], tmp_path: Path, stranger_examples: Path
) -> None:
    before = _deployments(cluster)
    second = _up(
        "--http-port", str(free_port()), data_dir=tmp_path / "b", examples=stranger_examples
    )
    try:
        assert second.stdout is not None
        lines = []
        for line in second.stdout:  # until the welcome (or the end, when it failed)
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert any("flowhost is up" in line for line in lines), "".join(lines)
        assert any("service stranger 9.9.9" in line for line in lines), "".join(lines)
        # The first cluster's executors never saw the second one's package, and the other
        # way round: each cluster only knows its own executors.
        time.sleep(2)  # a few discovery rounds of both gateways
        assert _deployments(cluster) == before
        url = next(line.split(" at ")[1].split()[0] for line in lines if "flowhost is up" in line)
        admin = admin_from(tmp_path / "b")
        theirs = httpx.get(f"{url}/api/executors", auth=admin, timeout=5).json()
        assert {e["address"] for e in theirs}.isdisjoint(before)
        assert [e["deployments"] for e in theirs] == [["stranger@9.9.9"]]
        assert all(e["ready"] for e in theirs)
        assert_serving(cluster, flow_auth)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.communicate(timeout=30)  # also closes its pipes
        except subprocess.TimeoutExpired:
            second.kill()
            second.communicate()
        shutil.rmtree(tmp_path / "b", ignore_errors=True)


@pytest.mark.parametrize(
    ("module", "env", "message"),
    [
        ("executors", {}, "no cluster credentials: set FLOWHOST_EXECUTOR_LINK_TOKEN"),
        (
            "executors",
            {"FLOWHOST_EXECUTOR_LINK_TOKEN": "short"},
            "a cluster token has 5 characters, fewer than the minimum of 16",
        ),
        (
            "executors",
            {"FLOWHOST_EXECUTOR_LINK_TLS_CA_FILE": "/nonexistent/ca.pem"},
            "mTLS needs all three of FLOWHOST_EXECUTOR_LINK_TLS_CERT_FILE",
        ),
        ("gateway", {}, "no cluster credentials: set FLOWHOST_LINK_TOKEN"),
        (
            "gateway",
            {"FLOWHOST_LINK_TOKEN_FILE": "/nonexistent/token"},
            "FLOWHOST_LINK_TOKEN_FILE: cannot read /nonexistent/token",
        ),
    ],
)
def test_nothing_starts_without_cluster_credentials(
    module: str, env: dict[str, str], message: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWHOST_")}
    started = subprocess.run(
        [sys.executable, "-m", module],
        env={
            **clean,
            "FLOWHOST_EXECUTOR_PORT": "0",
            "FLOWHOST_PORT": str(free_port()),
            "FLOWHOST_DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert started.returncode == 2, started.stderr
    assert f"flowhost {module.rstrip('s')} cannot start: " in started.stderr
    assert message in started.stderr
    assert "Traceback" not in started.stderr


def test_an_executor_that_cannot_bind_says_which_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = subprocess.run(
            [sys.executable, "-m", "executors"],
            env={
                **os.environ,
                "FLOWHOST_EXECUTOR_PORT": str(port),
                "FLOWHOST_EXECUTOR_LINK_TOKEN": "a-token-long-enough-for-this",
            },
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert started.returncode == 2, started.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in started.stderr


def test_up_is_not_up_when_an_executor_fails_to_start(
    tmp_path: Path, stranger_examples: Path
) -> None:
    """An executor that exits while `up` starts (here: a token too short) stops `up` with its
    reason; it never prints "flowhost is up"."""
    up = subprocess.run(
        [
            *(sys.executable, "-m", "flowhost.cli.main", "up", "--data-dir", str(tmp_path / "c")),
            *("--http-port", str(free_port()), "--examples", str(stranger_examples)),
        ],
        env={**os.environ, "FLOWHOST_EXECUTOR_LINK_TOKEN": "short", "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert up.returncode == 1
    assert "flowhost is up" not in up.stdout
    assert "exited with code 2: flowhost executor cannot start:" in up.stderr
    assert "fewer than the minimum of 16" in up.stderr
