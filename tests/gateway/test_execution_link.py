"""The execution link (protos/execution_link.py) between a real gateway connection and a real
executor: executions travel over it by default, the gRPC stream takes over where there is no
link, and whatever reaches the link's port without the cluster's proof is refused, bounded in
bytes and time, while the executor keeps serving its gateways."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from executors.server import ExecutorServer
from executors.settings import ExecutorSettings
from flowhost.link import ensure_link
from gateway.executor_client import ExecutorConnection
from gateway.link import ClusterLink
from gateway.reconcile import Reconciler
from gateway.routing import ExecutorPool
from gateway.translate import Execution, execution_to_proto
from protos import execution_link as wire
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
      - map: '{echo: .n}'
      - return: {}
  slow:
    steps:
      - sleep: 20s
      - return: {}
  same:
    steps:
      - return: {}
"""
TOKEN = "the-cluster-token-of-the-link-test"
LINK = ClusterLink(TOKEN, None, "flowhost-executor")


def _settings(**overrides: Any) -> ExecutorSettings:
    return ExecutorSettings(**{"port": 0, "drain_seconds": 0, "link_token": TOKEN, **overrides})


async def _reconciled(address: str, link: ClusterLink = LINK) -> tuple[ExecutorPool, Reconciler]:
    pool = ExecutorPool()
    reconciler = Reconciler(pool, lambda runtime: {KEY: PACKAGE}, [address], "", 1.0, link)
    await reconciler.reconcile()
    return pool, reconciler


async def _echo(connection: ExecutorConnection, n: int) -> bytes:
    execution = Execution(deployment=KEY, process="echo", documents=[(b'{"n": %d}' % n, {})])
    result = await connection.execute(execution, 10.0)
    assert result.status == "ok", result.error
    [(data, _)] = result.documents
    return data


@pytest.fixture
async def executor() -> AsyncIterator[ExecutorServer]:
    async with ExecutorServer(_settings()) as server:
        yield server


async def test_executions_travel_over_the_link(executor: ExecutorServer) -> None:
    pool, reconciler = await _reconciled(executor.address)
    try:
        [status] = reconciler.statuses()
        assert status.ready, status.problem
        assert status.carrier == "link"
        connection = pool.connections[executor.address]
        answers = await asyncio.gather(*(_echo(connection, n) for n in range(100)))
        assert answers == [b'{"echo":%d}' % n for n in range(100)]
        info = await connection.describe()
        assert info.stream_port == executor.stream_port != 0
        assert info.stats.requests_received == 100
        # 100 requests in one loop turn leave in frames of at most FRAME_MESSAGES.
        assert info.stats.request_batches >= 100 // wire.FRAME_MESSAGES
        assert info.stats.results_sent == 100
    finally:
        await pool.close()


async def test_without_a_link_the_grpc_stream_carries_them() -> None:
    async with ExecutorServer(_settings(stream_port=-1)) as executor:
        assert executor.stream_port == 0
        pool, reconciler = await _reconciled(executor.address)
        try:
            [status] = reconciler.statuses()
            assert status.ready, status.problem
            assert status.carrier == "grpc"
            assert await _echo(pool.connections[executor.address], 7) == b'{"echo":7}'
        finally:
            await pool.close()


class _Forwarder:
    """A real TCP forwarder in front of an executor's link port (a NAT, a port mapping). With
    `hold_requests` set it stops reading what the gateway sends, while the executor's
    heartbeats and results still come through: an executor that talks but reads nothing."""

    def __init__(self) -> None:
        self.target = 0
        self.connections = 0
        self.hold_requests = asyncio.Event()
        #: Bytes per second the requests are read at (0: as fast as they come): an executor
        #: that reads, slowly.
        self.request_rate = 0
        self._server: asyncio.Server | None = None
        #: Held strongly: a task that only waits is otherwise garbage, and its sockets with it.
        self._tasks: set[asyncio.Future[None]] = set()
        self._never = asyncio.get_running_loop().create_future()

    async def __aenter__(self) -> _Forwarder:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, held: bool
        ) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
                    if held and self.request_rate:
                        await asyncio.sleep(len(data) / self.request_rate)
                    if held and self.hold_requests.is_set():
                        await self._never  # reads no more, until the link drops
            sink.close()

        pipes = (pipe(reader, upstream_writer, True), pipe(upstream_reader, writer, False))
        tasks = {asyncio.ensure_future(p) for p in pipes}
        self._tasks |= tasks
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        self._tasks -= tasks
        writer.transport.abort()
        upstream_writer.transport.abort()


async def test_behind_a_port_mapping_the_advertised_link_port_is_dialled() -> None:
    """A NAT or `docker run -p` forwards another port to the link: STREAM_ADVERTISE_PORT names
    it in Describe, and the gateway's link goes through the mapping."""
    async with _Forwarder() as mapping:
        settings = _settings(stream_advertise_port=mapping.port)
        async with ExecutorServer(settings) as executor:
            mapping.target = executor.stream_port
            assert executor.stream_port != mapping.port
            pool, reconciler = await _reconciled(executor.address)
            try:
                [status] = reconciler.statuses()
                assert status.ready and status.carrier == "link", status.problem
                connection = pool.connections[executor.address]
                assert (await connection.describe()).stream_port == mapping.port
                assert await _echo(connection, 5) == b'{"echo":5}'
                assert mapping.connections == 1  # the one link went through the mapping
            finally:
                await pool.close()


async def _held_link(
    mapping: _Forwarder, executor: ExecutorServer
) -> tuple[ExecutorPool, ExecutorConnection]:
    """A gateway connection whose link goes through `mapping`, with the requests held."""
    mapping.target = executor.stream_port
    pool, _ = await _reconciled(executor.address)
    connection = pool.connections[executor.address]
    assert connection.carrier == "link"
    assert await _echo(connection, 1) == b'{"echo":1}'
    mapping.hold_requests.set()
    return pool, connection


def _large(n: int) -> Execution:
    document = b'{"n": %d, "pad": "%s"}' % (n, b"x" * 1024 * 1024)
    return Execution(deployment=KEY, process="echo", documents=[(document, {})])


async def test_an_executor_that_reads_no_requests_loses_its_link_past_the_unsent_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests the executor never reads pile up in the gateway: past UNSENT_MAX_BYTES the
    link is dropped, every waiting request fails at once (never a hang), and the gateway holds
    no more than the bound plus a frame; a new link serves again."""
    bound = 16 * 1024 * 1024
    monkeypatch.setattr("gateway.execution_stream.UNSENT_MAX_BYTES", bound)
    async with (
        _Forwarder() as mapping,
        ExecutorServer(_settings(stream_advertise_port=mapping.port)) as executor,
    ):
        pool, connection = await _held_link(mapping, executor)
        try:
            calls = []
            for n in range(200):  # 200 MB if the gateway held them all
                calls.append(asyncio.ensure_future(connection.execute(_large(n), 60.0)))
                await asyncio.sleep(0)  # one frame each
                if not connection.streaming:
                    break
            assert not connection.streaming, "the link survived 200 MB of unread requests"
            assert len(calls) < 200
            outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
            failed = [o for o in outcomes if isinstance(o, Exception)]
            assert failed and len(failed) >= len(calls) - 4  # some were read before it
            said = [str(f) for f in failed if "is not reading its requests" in str(f)]
            assert said and f"past its bound of {bound}" in said[0], failed[-3:]
            mapping.hold_requests.clear()
            await connection.open_stream()  # what the reconciler does on its next pass
            assert await _echo(connection, 2) == b'{"echo":2}'
        finally:
            await pool.close()


async def test_an_executor_that_reads_nothing_for_the_stall_time_loses_its_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Below the bound too: a backlog that has not shrunk in STALL_S drops the link, though
    the executor still sends heartbeats (so it is never called silent)."""
    monkeypatch.setattr("gateway.execution_stream.STALL_S", 1.0)
    async with (
        _Forwarder() as mapping,
        ExecutorServer(_settings(stream_advertise_port=mapping.port)) as executor,
    ):
        pool, connection = await _held_link(mapping, executor)
        try:
            calls = [asyncio.ensure_future(connection.execute(_large(n), 60.0)) for n in range(24)]
            started = asyncio.get_running_loop().time()
            outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
            waited = asyncio.get_running_loop().time() - started
            failed = [o for o in outcomes if isinstance(o, Exception)]
            assert failed, "every request ran through a link that reads nothing"
            said = [str(f) for f in failed if "has read none of its requests for 1s" in str(f)]
            assert said, failed[-3:]
            assert 1.0 <= waited < 5.0, waited
            assert not connection.silent  # its heartbeats kept coming
        finally:
            await pool.close()


async def test_an_executor_that_reads_slowly_under_load_keeps_its_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stall check counts what the executor takes, not whether the backlog shrinks: one
    that reads 6 MB/s while the gateway writes ~20 MB/s has a growing backlog for longer than
    STALL_S, and keeps its link; every request is answered."""
    monkeypatch.setattr("gateway.execution_stream.STALL_S", 0.5)
    async with (
        _Forwarder() as mapping,
        ExecutorServer(_settings(stream_advertise_port=mapping.port)) as executor,
    ):
        mapping.target = executor.stream_port
        pool, _ = await _reconciled(executor.address)
        try:
            connection = pool.connections[executor.address]
            assert await _echo(connection, 1) == b'{"echo":1}'
            mapping.request_rate = 6_000_000
            calls = []
            for n in range(20):  # 20 MB over 1 s, read in ~3.5 s
                calls.append(asyncio.ensure_future(connection.execute(_large(n), 60.0)))
                await asyncio.sleep(0.05)
            results = await asyncio.wait_for(asyncio.gather(*calls), 50)
            assert [r.status for r in results] == ["ok"] * 20
            assert connection.streaming
        finally:
            await pool.close()


async def test_an_unreachable_link_falls_back_to_grpc_and_says_so_once(
    executor: ExecutorServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert executor._link_server is not None
    await executor._link_server.close()  # Describe still names the port; nothing listens
    with caplog.at_level(logging.WARNING, logger="flowhost.gateway"):
        pool, reconciler = await _reconciled(executor.address)
        try:
            [status] = reconciler.statuses()
            assert status.ready and status.carrier == "grpc"
            connection = pool.connections[executor.address]
            assert await _echo(connection, 3) == b'{"echo":3}'
            await connection.open_stream()  # a reopened stream tries the link again
            assert connection.carrier == "grpc"
        finally:
            await pool.close()
    said = [r for r in caplog.records if "execution link" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert f"(port {executor.stream_port}) cannot be reached" in said[0].getMessage()


async def test_a_link_port_that_never_answers_falls_back_and_the_grpc_stream_stays(
    executor: ExecutorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that accepts and says nothing (a middlebox, a stuck process): the gateway gives
    up at LINK_OPEN_S, streams over gRPC, and the abandoned socket's close breaks nothing."""
    monkeypatch.setattr("gateway.executor_client.LINK_OPEN_S", 0.5)
    assert executor._link_server is not None
    await executor._link_server.close()
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", executor.stream_port)
    try:
        pool, _ = await _reconciled(executor.address)
        try:
            connection = pool.connections[executor.address]
            assert connection.carrier == "grpc" and held, "it connected, then gave up"
            for writer in held:
                writer.close()
            await asyncio.sleep(0.3)  # the abandoned socket's close has been seen
            assert connection.streaming
            assert await _echo(connection, 9) == b'{"echo":9}'
        finally:
            await pool.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_lost_link_fails_waiting_requests_at_once(executor: ExecutorServer) -> None:
    pool, _ = await _reconciled(executor.address)
    try:
        connection = pool.connections[executor.address]
        assert connection.carrier == "link"
        slow = Execution(deployment=KEY, process="slow", documents=[(b"{}", {})])
        waiting = asyncio.ensure_future(connection.execute(slow, 30.0))
        await asyncio.sleep(0.2)
        assert connection.outstanding == 1
        assert executor._link_server is not None
        await executor._link_server.close()
        with pytest.raises(Exception, match="closed the execution link"):
            await asyncio.wait_for(waiting, 5)
        assert not connection.streaming
    finally:
        await pool.close()


def _mtls(tmp_path: Path) -> tuple[ExecutorSettings, ClusterLink]:
    """An executor's settings and a gateway's link under mTLS, from fresh cluster certificates."""
    files = ensure_link(tmp_path, mtls=True)
    assert files.ca and files.gateway_cert and files.gateway_key
    settings = _settings(
        link_token="",
        link_tls_cert_file=files.executor_cert,
        link_tls_key_file=files.executor_key,
        link_tls_ca_file=files.ca,
    )
    tls = (files.gateway_cert.read_bytes(), files.gateway_key.read_bytes(), files.ca.read_bytes())
    return settings, ClusterLink("", tls, "flowhost-executor")


async def test_mtls_runs_the_link_over_tls(tmp_path: Path) -> None:
    settings, link = _mtls(tmp_path)
    async with ExecutorServer(settings) as executor:
        pool, reconciler = await _reconciled(executor.address, link)
        try:
            [status] = reconciler.statuses()
            assert status.ready and status.carrier == "link", status.problem
            assert await _echo(pool.connections[executor.address], 5) == b'{"echo":5}'
        finally:
            await pool.close()
        # Plain TCP to the link's port gets no handshake: TLS comes first, and fails.
        reader, writer = await asyncio.open_connection("127.0.0.1", executor.stream_port)
        writer.write(wire.MAGIC + b"\0" * (wire.GATEWAY_HELLO_BYTES - 4))
        answer = await asyncio.wait_for(reader.read(), 10)
        assert not answer.startswith(wire.MAGIC), answer
        writer.close()


# -- hostile callers at the link's port ------------------------------------------------------


async def _opening(
    executor: ExecutorServer,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", executor.stream_port)
    hello = await asyncio.wait_for(reader.readexactly(wire.EXECUTOR_HELLO_BYTES), 5)
    assert hello[:4] == wire.MAGIC
    return reader, writer, hello[4:]


async def _refusal(reader: asyncio.StreamReader) -> str:
    """The reason the executor gives before it closes (REFUSED + one frame), then EOF."""
    assert await asyncio.wait_for(reader.readexactly(1), 10) == wire.REFUSED
    (size,) = struct.unpack("!I", await reader.readexactly(4))
    reason = (await reader.readexactly(size)).decode()
    assert await asyncio.wait_for(reader.read(), 5) == b"", "and the connection is closed"
    return reason


def _proof(token: bytes, role: str, executor_nonce: bytes, gateway_nonce: bytes) -> bytes:
    """The handshake's proof as its documentation states it, written out here."""
    message = b"flowhost execution link " + role.encode() + b"\0" + executor_nonce + gateway_nonce
    return hmac.new(token, message, hashlib.sha256).digest()


async def _still_serves(executor: ExecutorServer) -> None:
    pool, reconciler = await _reconciled(executor.address)
    try:
        [status] = reconciler.statuses()
        assert status.carrier == "link"
        assert await _echo(pool.connections[executor.address], 11) == b'{"echo":11}'
    finally:
        await pool.close()


async def test_tls_handshakes_open_at_once_are_bounded_too(tmp_path: Path) -> None:
    """Under mTLS a caller that opens TCP and never finishes TLS holds a handshake slot: more
    than MAX_HANDSHAKING of them are closed on arrival, and the cluster's gateway still links."""
    from executors.execution_link import MAX_HANDSHAKING

    settings, link = _mtls(tmp_path)
    async with ExecutorServer(settings) as executor:
        held = [
            await asyncio.open_connection("127.0.0.1", executor.stream_port)
            for _ in range(MAX_HANDSHAKING)
        ]
        await asyncio.sleep(0.2)
        assert executor._link_server is not None
        assert executor._link_server.handshaking == MAX_HANDSHAKING
        reader, writer = await asyncio.open_connection("127.0.0.1", executor.stream_port)
        assert await asyncio.wait_for(reader.read(), 5) == b"", "one more is closed on arrival"
        writer.close()
        for _, w in held:
            w.close()
        for _ in range(100):  # the closed ones give their slots back within 5 s
            if not executor._link_server.handshaking:
                break
            await asyncio.sleep(0.05)
        assert executor._link_server.handshaking == 0  # every slot came back
        pool, reconciler = await _reconciled(executor.address, link)
        try:
            [status] = reconciler.statuses()
            assert status.ready and status.carrier == "link", status.problem
            assert await _echo(pool.connections[executor.address], 6) == b'{"echo":6}'
        finally:
            await pool.close()
        assert executor._link_server.handshaking == 0


async def test_a_caller_that_does_not_speak_the_link_is_refused(executor: ExecutorServer) -> None:
    reader, writer, _ = await _opening(executor)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * (wire.GATEWAY_HELLO_BYTES - 27))
    assert "wrong opening bytes" in await _refusal(reader)
    writer.close()
    await _still_serves(executor)


async def test_a_wrong_proof_is_refused_and_nothing_runs(executor: ExecutorServer) -> None:
    reader, writer, nonce = await _opening(executor)
    mine = secrets.token_bytes(32)
    wrong = _proof(b"another-clusters-token-entirely", "gateway", nonce, mine)
    writer.write(wire.MAGIC + mine + wrong)
    assert "not this executor's cluster's" in await _refusal(reader)
    writer.close()
    info = (await _describe(executor)).stats
    assert info.requests_received == 0


async def test_a_replayed_handshake_is_refused(executor: ExecutorServer) -> None:
    """A gateway's answer is bound to the executor's fresh nonce: one recorded from another
    connection proves nothing on this one."""
    reader, writer, nonce = await _opening(executor)
    mine = secrets.token_bytes(32)
    writer.write(wire.MAGIC + mine + _proof(TOKEN.encode(), "gateway", nonce, mine))
    verdict = await reader.readexactly(wire.VERDICT_BYTES)
    assert verdict[:1] == wire.ACCEPTED
    assert verdict[1:] == _proof(TOKEN.encode(), "executor", nonce, mine)
    replay = wire.MAGIC + mine + _proof(TOKEN.encode(), "gateway", nonce, mine)
    reader2, writer2, _ = await _opening(executor)
    writer2.write(replay)
    assert "not this executor's cluster's" in await _refusal(reader2)
    for w in (writer, writer2):
        w.close()


async def test_more_than_a_handshake_before_acceptance_is_refused(
    executor: ExecutorServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer, _ = await _opening(executor)
    writer.write(b"\0" * (wire.GATEWAY_HELLO_BYTES + 100))
    assert "more than a handshake" in await _refusal(reader)
    writer.close()
    # A megabyte: refused at its first read; the rest is never held (the close may reach the
    # caller as a reset, since the executor leaves the unread bytes unread).
    with caplog.at_level(logging.WARNING, logger="flowhost.executor"):
        reader, writer, _ = await _opening(executor)
        writer.write(b"\0" * (1024 * 1024))
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(reader.read(65536), 5):
                pass
        writer.close()
    assert any("more than a handshake" in r.getMessage() for r in caplog.records)
    await _still_serves(executor)


async def test_a_silent_caller_is_closed_at_the_handshake_timeout(
    executor: ExecutorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "HANDSHAKE_TIMEOUT_S", 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer, _ = await _opening(executor)
    assert "no handshake within 0.3s" in await _refusal(reader)
    assert loop.time() - started < 3
    writer.close()


async def test_handshakes_open_at_once_are_bounded(executor: ExecutorServer) -> None:
    from executors.execution_link import MAX_HANDSHAKING

    held = [await _opening(executor) for _ in range(MAX_HANDSHAKING)]
    reader, writer = await asyncio.open_connection("127.0.0.1", executor.stream_port)
    assert await asyncio.wait_for(reader.read(), 5) == b"", "one more is closed on arrival"
    writer.close()
    for _, w, _ in held:
        w.close()
    await asyncio.sleep(0.1)
    await _still_serves(executor)


@pytest.mark.parametrize(
    "sent",
    [struct.pack("!I", wire.MAX_FRAME_BYTES + 1) + b"\0" * 64, wire.frame(b"\xff" * 40)],
    ids=["a-frame-over-the-limit", "a-frame-that-is-no-request-batch"],
)
async def test_a_bad_frame_after_the_handshake_closes_only_that_link(
    executor: ExecutorServer, sent: bytes
) -> None:
    reader, writer, nonce = await _opening(executor)
    mine = secrets.token_bytes(32)
    writer.write(wire.MAGIC + mine + _proof(TOKEN.encode(), "gateway", nonce, mine))
    assert (await reader.readexactly(wire.VERDICT_BYTES))[:1] == wire.ACCEPTED
    writer.write(sent)
    while await asyncio.wait_for(reader.read(4096), 5):  # heartbeats, then the close
        pass
    writer.close()
    await _still_serves(executor)


async def test_requests_cancelled_in_the_frame_that_starts_them_are_answered_cancelled(
    executor: ExecutorServer,
) -> None:
    """A frame may start an execution and cancel it before its first step (or while it runs),
    beside one that runs to its end: each gets its own answer, and the executor serves on."""
    pool, _ = await _reconciled(executor.address)  # deploys the package
    try:
        reader, writer, nonce = await _opening(executor)
        mine = secrets.token_bytes(32)
        writer.write(wire.MAGIC + mine + _proof(TOKEN.encode(), "gateway", nonce, mine))
        assert (await reader.readexactly(wire.VERDICT_BYTES))[:1] == wire.ACCEPTED

        def start(request_id: int, process: str) -> pb.ExecuteRequest:
            documents = [(b'{"n": %d}' % request_id, {})]
            execution = Execution(deployment=KEY, process=process, documents=documents)
            return execution_to_proto(request_id, execution)

        first = [start(1, "echo"), start(2, "slow"), start(3, "echo")]
        cancels = [pb.ExecuteRequest(id=3, cancel=True), pb.ExecuteRequest(id=2, cancel=True)]
        writer.write(wire.frame(pb.RequestBatch(requests=first + cancels).SerializeToString()))
        results: dict[int, pb.ExecuteResult] = {}
        frames = wire.Frames()
        while len(results) < 3:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "the executor closed the link"
            for frame in frames.feed(data):
                results.update((r.id, r) for r in pb.ResultBatch.FromString(frame).results)
        assert results[1].status == pb.STATUS_OK
        assert results[2].status == results[3].status == pb.STATUS_CANCELLED
        assert results[2].error.code == results[3].error.code == "cancelled"
        writer.close()
        assert await _echo(pool.connections[executor.address], 7) == b'{"echo":7}'
    finally:
        await pool.close()


async def _describe(executor: ExecutorServer) -> pb.DescribeReply:
    async with grpc.aio.insecure_channel(executor.address) as channel:
        return await pb_grpc.ExecutorStub(channel).Describe(
            pb.DescribeRequest(), metadata=LINK.metadata, timeout=5
        )


async def test_a_gateway_that_stops_reading_stops_the_executor_reading(
    executor: ExecutorServer,
) -> None:
    """Flow control: results the other side does not read back up into the executor, which
    then reads no more requests, rather than running them all and holding every result."""
    pool, _ = await _reconciled(executor.address)  # deploys the package
    await pool.close()
    reader, writer, nonce = await _opening(executor)
    mine = secrets.token_bytes(32)
    writer.write(wire.MAGIC + mine + _proof(TOKEN.encode(), "gateway", nonce, mine))
    assert (await reader.readexactly(wire.VERDICT_BYTES))[:1] == wire.ACCEPTED
    document = b'{"x": "' + b"y" * 64 * 1024 + b'"}'
    sent = 1000  # 64 MB of results if all ran
    for first in range(1, sent + 1, 10):
        batch = pb.RequestBatch(
            requests=[
                pb.ExecuteRequest(
                    id=i, deployment=KEY, process="same", documents=[pb.Document(data=document)]
                )
                for i in range(first, first + 10)
            ]
        )
        writer.write(wire.frame(batch.SerializeToString()))
    await asyncio.sleep(2)  # nothing reads what the executor answers
    received = (await _describe(executor)).stats.requests_received
    assert 0 < received < sent / 2, received
    writer.transport.abort()  # 60 MB unsent on our side: close would wait to send them
    await _still_serves(executor)


# -- an executor whose link cannot prove the token -------------------------------------------


class _ProvesOnGrpcOnly(pb_grpc.ExecutorServicer):  # type: ignore[misc]
    """Answers Describe with a right proof, but names a link port that proves nothing."""

    def __init__(self, stream_port: int) -> None:
        self.stream_port = stream_port
        self.sent: list[str] = []

    async def Describe(self, request: pb.DescribeRequest, context: Any) -> pb.DescribeReply:
        proof = hmac.new(TOKEN.encode(), request.nonce, hashlib.sha256).digest()
        return pb.DescribeReply(
            runtime="default",
            executor_id="impostor",
            deployments=[KEY],
            proof=proof,
            stream_port=self.stream_port,
        )

    async def Execute(self, request_iterator: Any, context: Any) -> AsyncIterator[pb.ResultBatch]:
        self.sent.append("Execute")
        async for _ in request_iterator:
            yield pb.ResultBatch()


async def test_a_link_that_cannot_prove_the_token_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames: list[bytes] = []

    async def fake_link(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(wire.MAGIC + secrets.token_bytes(32))
            await reader.readexactly(wire.GATEWAY_HELLO_BYTES)
            writer.write(wire.ACCEPTED + b"\0" * 32)
            frames.append(await reader.read())
        finally:
            writer.close()

    link_server = await asyncio.start_server(fake_link, "127.0.0.1", 0)
    link_port = link_server.sockets[0].getsockname()[1]
    impostor = _ProvesOnGrpcOnly(link_port)
    server = grpc.aio.server()
    pb_grpc.add_ExecutorServicer_to_server(impostor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with caplog.at_level(logging.WARNING, logger="flowhost.gateway"):
            pool, reconciler = await _reconciled(f"127.0.0.1:{port}")
            [status] = reconciler.statuses()
            await pool.close()
    finally:
        await server.stop(None)
        link_server.close()
        await link_server.wait_closed()
    assert not status.ready
    assert status.problem == (
        "not of this cluster: its proof of the cluster token on the execution link is wrong"
    )
    assert impostor.sent == [], "no fallback to the gRPC stream for a stranger"
    assert frames in ([], [b""]), "and not a single frame reached its link"


@pytest.mark.parametrize(("poll_us", "polls"), [(10_000, True), (0, False)])
async def test_a_quiet_link_polls_for_its_answers_unless_turned_off(
    poll_us: int, polls: bool
) -> None:
    """One request at a time: each end polls for the other's answer after writing (the
    settings FLOWHOST_LINK_POLL_US and FLOWHOST_EXECUTOR_LINK_POLL_US), and 0 turns it off."""
    async with ExecutorServer(_settings(link_poll_us=poll_us)) as server:
        pool = ExecutorPool()
        reconciler = Reconciler(
            pool, lambda runtime: {KEY: PACKAGE}, [server.address], "", 1.0, LINK,
            link_poll_s=poll_us / 1e6,
        )  # fmt: skip
        await reconciler.reconcile()
        try:
            connection = pool.connections[server.address]
            for n in range(20):
                assert await _echo(connection, n) == b'{"echo":%d}' % n
            poll = connection._stream._poll  # type: ignore[union-attr]
            if polls:
                assert poll.answered >= 10, (poll.answered, poll.missed)
            else:
                assert (poll.answered, poll.missed) == (0, 0)
        finally:
            await pool.close()


@pytest.mark.parametrize("value", [-1, 10_001])
def test_a_poll_budget_out_of_bounds_is_refused_naming_the_setting(value: int) -> None:
    from pydantic import ValidationError

    from gateway.settings import GatewaySettings

    with pytest.raises(ValidationError, match="link_poll_us"):
        GatewaySettings(link_poll_us=value)
    with pytest.raises(ValidationError, match="link_poll_us"):
        _settings(link_poll_us=value)
