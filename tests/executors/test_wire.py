"""The gateway ↔ executor wire: string maps ($props, $config, $flow, document properties) travel
as JSON bytes (executor.proto), and an executor refuses a malformed one as a bad request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import orjson
import pytest

from executors.server import ExecutorServer
from executors.settings import ExecutorSettings
from gateway.executor_client import ExecutorConnection
from gateway.link import TOKEN_METADATA_KEY, ClusterLink
from gateway.translate import Execution
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc

KEY = "echo@1.0.0"
TOKEN = "wire-test-cluster-token"
LINK = ClusterLink(TOKEN, None, "flowhost-executor")
PACKAGE = """
name: echo
version: 1.0.0
service:
  path: echo
  configuration:
    - {name: region}
processes:
  echo:
    steps:
      - set: {docprops: {seen: '$docprops | length | tostring'}}
      - map: '{props: $props, config: $config, flow: $flow, docprops: $docprops}'
      - return: {}
"""


@pytest.fixture
async def executor() -> AsyncIterator[ExecutorServer]:
    async with ExecutorServer(
        ExecutorSettings(port=0, drain_seconds=0, link_token=TOKEN)
    ) as server:
        connection = ExecutorConnection(server.address, LINK)
        try:
            assert await connection.deploy(KEY, PACKAGE) == []
        finally:
            await connection.close()
        yield server


async def test_string_maps_arrive_as_sent(executor: ExecutorServer) -> None:
    connection = ExecutorConnection(executor.address, LINK)
    try:
        await connection.open_stream()
        execution = Execution(
            deployment=KEY,
            process="echo",
            documents=[(b'{"n": 1}', {"file_name": "ä.json", "empty": ""}), (b"{}", {})],
            props={"order": "42"},
            config={"region": "eu"},
            flow={"token": "t", "tenantId": "x", "culture": '{"language":"EN"}'},
            execution_id="e1",
        )
        result = await connection.execute(execution, wait_s=10)
    finally:
        await connection.close()
    assert result.status == "ok", result.error
    first = {
        "props": {"order": "42"},
        "config": {"region": "eu"},
        "flow": {
            "token": "t",
            "tenantId": "x",
            "culture": '{"language":"EN"}',
            "execution_id": "e1",
        },
    }
    assert [(orjson.loads(data), props) for data, props in result.documents] == [
        (
            {**first, "docprops": {"file_name": "ä.json", "empty": "", "seen": "2"}},
            {"file_name": "ä.json", "empty": "", "seen": "2"},
        ),
        ({**first, "docprops": {"seen": "0"}}, {"seen": "0"}),
    ]


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"flow_json": b"[1]"}, "flow is a JSON array, not an object"),
        ({"properties_json": b"{oops"}, "properties is not JSON"),
        ({"config_json": b'{"a": 1}'}, "config is not all strings: 'a' is a JSON number"),
        (
            {"documents": [pb.Document(data=b"{}", properties_json=b"null")]},
            "document properties is a JSON null, not an object",
        ),
    ],
)
async def test_a_malformed_string_map_is_rejected(
    executor: ExecutorServer, request_fields: dict[str, object], message: str
) -> None:
    request = pb.ExecuteRequest(id=7, deployment=KEY, process="echo", **request_fields)
    async with grpc.aio.insecure_channel(executor.address) as channel:
        call = pb_grpc.ExecutorStub(channel).Execute(metadata=((TOKEN_METADATA_KEY, TOKEN),))
        await call.write(pb.RequestBatch(requests=[request]))
        batch = await call.read()
        call.cancel()
    [result] = batch.results
    assert result.id == 7
    assert result.status == pb.STATUS_REJECTED
    assert result.error.code == "bad_request"
    assert not result.error.retryable
    assert message in result.error.message
