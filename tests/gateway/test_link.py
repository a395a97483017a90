"""The gateway's side of the executor link, against real executors over real gRPC: it refuses an
executor that cannot prove it is of its cluster (one that accepts anyone, a wrong proof, another
cluster's certificates), says so once, and never deploys to or streams work to it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from executors.server import ExecutorServer
from executors.settings import ExecutorSettings
from flowhost.link import ensure_link
from gateway.link import ClusterLink
from gateway.reconcile import ExecutorStatus, Reconciler
from gateway.routing import ExecutorPool
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc

KEY = "echo@1.0.0"
PACKAGE = """
name: echo
version: 1.0.0
service:
  path: echo
processes:
  echo:
    steps:
      - return: {}
"""
TOKEN = "the-cluster-token-of-this-test"


class Stranger(pb_grpc.ExecutorServicer):  # type: ignore[misc]
    """An executor of no cluster: it answers anyone, and counts what it was sent."""

    def __init__(self, proof: bytes) -> None:
        self.proof = proof
        self.sent: list[str] = []

    async def Describe(self, request: pb.DescribeRequest, context: Any) -> pb.DescribeReply:
        return pb.DescribeReply(runtime="default", executor_id="stranger", proof=self.proof)

    async def Deploy(self, request: pb.DeployRequest, context: Any) -> pb.DeployReply:
        self.sent.append("Deploy")
        return pb.DeployReply()

    async def Execute(self, request_iterator: Any, context: Any) -> AsyncIterator[pb.ResultBatch]:
        self.sent.append("Execute")
        async for _ in request_iterator:
            yield pb.ResultBatch()


async def _reconcile(address: str, link: ClusterLink, passes: int = 1) -> list[ExecutorStatus]:
    pool = ExecutorPool()
    reconciler = Reconciler(pool, lambda runtime: {KEY: PACKAGE}, [address], "", 1.0, link)
    try:
        for _ in range(passes):
            await reconciler.reconcile()
        return reconciler.statuses()
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        (
            b"",
            "it answered without proving it knows the cluster token (an executor that accepts "
            "any caller, or an older version)",
        ),
        (b"\x00" * 32, "its proof of the cluster token is wrong"),
    ],
    ids=["accepts-anyone", "wrong-proof"],
)
async def test_an_executor_that_cannot_prove_membership_is_refused(
    proof: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = Stranger(proof)
    server = grpc.aio.server()
    pb_grpc.add_ExecutorServicer_to_server(stranger, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with caplog.at_level(logging.WARNING, logger="flowhost.gateway"):
            [status] = await _reconcile(f"127.0.0.1:{port}", ClusterLink(TOKEN, None, "x"), 3)
    finally:
        await server.stop(None)
    assert not status.ready
    assert status.problem == f"not of this cluster: {reason}"
    assert stranger.sent == [], "a refused executor never gets a Deploy or an Execute"
    said = [r for r in caplog.records if "not of this cluster" in r.getMessage()]
    assert len(said) == 1, "refused once in the log, not every discovery round"


async def test_the_right_token_is_accepted_and_rotation_takes_both() -> None:
    settings = ExecutorSettings(port=0, drain_seconds=0, link_token=f"new-{TOKEN},{TOKEN}")
    async with ExecutorServer(settings) as executor:
        for token in (TOKEN, f"new-{TOKEN}"):
            [status] = await _reconcile(executor.address, ClusterLink(token, None, "x"))
            assert status.ready, status.problem
            assert status.deployments == (KEY,)
        [status] = await _reconcile(executor.address, ClusterLink(f"old-{TOKEN}", None, "x"))
        assert not status.ready
        assert status.problem.startswith("not of this cluster: it refused this gateway's")


def _mtls_link(folder: Path) -> tuple[ExecutorSettings, ClusterLink]:
    files = ensure_link(folder, mtls=True)
    assert files.ca and files.gateway_cert and files.gateway_key
    settings = ExecutorSettings(
        port=0,
        drain_seconds=0,
        link_tls_cert_file=files.executor_cert,
        link_tls_key_file=files.executor_key,
        link_tls_ca_file=files.ca,
    )
    tls = (files.gateway_cert.read_bytes(), files.gateway_key.read_bytes(), files.ca.read_bytes())
    return settings, ClusterLink("", tls, "flowhost-executor")


async def test_mtls_admits_only_the_clusters_certificates(tmp_path: Path) -> None:
    settings, link = _mtls_link(tmp_path / "ours")
    _, theirs = _mtls_link(tmp_path / "theirs")
    async with ExecutorServer(settings) as executor:
        [status] = await _reconcile(executor.address, link)
        assert status.ready, status.problem
        assert status.deployments == (KEY,)
        [status] = await _reconcile(executor.address, theirs)
        assert not status.ready
        assert status.problem.startswith("not of this cluster: the TLS handshake failed")
        # A caller with no client certificate does not get past the handshake at all.
        assert link.tls is not None
        plain_tls = grpc.ssl_channel_credentials(root_certificates=link.tls[2])
        options = (("grpc.ssl_target_name_override", "flowhost-executor"),)
        async with grpc.aio.secure_channel(executor.address, plain_tls, options) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await pb_grpc.ExecutorStub(channel).Describe(pb.DescribeRequest(), timeout=5)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(executor.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )


def test_link_files_are_private(tmp_path: Path) -> None:
    files = ensure_link(tmp_path, mtls=True)
    assert (tmp_path / "link").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "link").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    again = ensure_link(tmp_path, mtls=True)
    assert again == files
    assert files.token.read_text() == again.token.read_text(), "made once, then reused"
