"""The runtime policy over real gRPC: the gateway's Configure reaches the executor's steps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from executors.server import ExecutorServer
from executors.settings import ExecutorSettings
from gateway.executor_client import ExecutorConnection
from gateway.link import ClusterLink
from gateway.policy import ExecutionLimits, RuntimePolicy
from gateway.translate import Execution

TOKEN = "policy-wire-cluster-token"
LINK = ClusterLink(TOKEN, None, "flowhost-executor")

KEY = "files@1.0.0"
PACKAGE = """
name: files
version: 1.0.0
service: {path: files}
processes:
  list:
    steps:
      - file: {action: list, folder: '"."'}
      - combine: {}
      - return: {}
"""


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[ExecutorServer]:
    settings = ExecutorSettings(
        port=0, drain_seconds=0, files_dir=str(tmp_path / "defaults"), link_token=TOKEN
    )
    async with ExecutorServer(settings) as server:
        yield server


async def _listed(connection: ExecutorConnection) -> list[str]:
    execution = Execution(deployment=KEY, process="list", documents=[(b"{}", {})])
    result = await connection.execute(execution, wait_s=10)
    assert result.status == "ok", result.error
    return [f["name"] for f in orjson.loads(result.documents[0][0])]


async def test_configure_sets_the_files_root_limits_and_the_digest(
    executor: ExecutorServer, tmp_path: Path
) -> None:
    default_root = tmp_path / "defaults" / "default"
    (default_root / "made-before.txt").write_text("x")  # the executor made its default root
    operator_root = tmp_path / "operator"
    operator_root.mkdir()
    (operator_root / "a.txt").write_text("a")
    connection = ExecutorConnection(executor.address, LINK)
    try:
        assert (await connection.describe()).policy_digest == ""
        assert await connection.deploy(KEY, PACKAGE) == []
        await connection.open_stream()
        assert await _listed(connection) == ["made-before.txt"]
        policy = RuntimePolicy(
            files_root=str(operator_root),
            allow_loopback=True,
            egress_allow=("*.example.com",),
            limits=ExecutionLimits(split_fanout=77),
        )
        await connection.configure(policy)
        assert (await connection.describe()).policy_digest == policy.digest
        assert await _listed(connection) == ["a.txt"]
    finally:
        await connection.close()
    held = executor._host.policy if executor._host is not None else None
    assert held is not None
    assert (held.limits.split_fanout, held.limits.documents_per_step) == (77, 10_000)
    assert (held.allow_loopback, held.egress_allow) == (True, ("*.example.com",))
