"""What carries an executor connection's execution stream: the execution link, or gRPC.

Both send `ExecuteRequest`s batched per loop turn and hand every `ResultBatch` to the
connection (`received`), and tell it once when the stream is gone (`lost`, with the reason).

- `LinkStream`, the default: length-prefixed frames on a plain socket (TLS under mTLS) that the
  event loop reads and writes itself (protos/execution_link.py). Measured against the gRPC
  stream (docs/benchmark.md, "The execution link"), it saves the thread hand-offs between
  gRPC's C core and the loop, which were most of a request's cost at low load.
- `GrpcStream`: the `Execute` RPC, for an executor that offers no link port (one started with
  FLOWHOST_EXECUTOR_STREAM_PORT=-1, or one whose link port this gateway cannot reach).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Protocol, cast

import grpc
from google.protobuf.message import DecodeError

from gateway.link import ClusterLink, NotOfCluster
from protos import execution_link as wire
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc
from protos.reply_poll import ReplyPoll

Received = Callable[[pb.ResultBatch], None]
Lost = Callable[[str], None]

#: Requests written to the link but not yet taken by the executor, in bytes, past which the
#: link is dropped: an executor that stops reading while it still sends heartbeats would
#: otherwise make the gateway hold every request routed to it (memory without bound). Four of
#: the largest frames, so a legitimate upload that the executor is still reading never trips it.
UNSENT_MAX_BYTES = 4 * wire.MAX_FRAME_BYTES
#: How long the link may stay above the transport's high-water mark with not one more byte
#: taken by the executor before it is dropped: an executor that reads nothing is found even when
#: little is waiting (a slow one that reads at all, under any load, is not).
STALL_S = 10.0


class ExecutionStream(Protocol):
    def send(self, request: pb.ExecuteRequest) -> None:
        """Queue a request; it leaves with the others queued in this loop turn."""

    def unsent(self) -> set[int]:
        """Ids of execution requests queued but not yet written (they never ran)."""

    async def close(self) -> None: ...


# -- the execution link ----------------------------------------------------------------------


class LinkStream(asyncio.Protocol):
    def __init__(
        self,
        address: str,
        link: ClusterLink,
        received: Received,
        lost: Lost,
        poll_s: float = 0.0,
    ) -> None:
        self._address = address
        self._link = link
        self._received = received
        self._lost = lost
        self._transport: asyncio.Transport | None = None
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opening = bytearray()
        self._executor_nonce = b""
        self._gateway_nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self._frames = wire.Frames()
        self._queue: list[pb.ExecuteRequest] = []
        self._flush_due = False
        #: After a frame of requests leaves, the loop polls for the results (protos/reply_poll.py).
        self._poll = ReplyPoll(poll_s)
        self._gone = False
        #: Bytes of frames written to the transport; minus its buffer, what the kernel took.
        self._written = 0
        #: While the transport is past its high-water mark: the stall check's timer, and how
        #: many bytes the kernel had taken when it last looked.
        self._stall: asyncio.TimerHandle | None = None
        self._taken_at_check = 0
        #: How many requests are out on this stream (the connection sets it): `frame_cap`.
        self.in_flight: Callable[[], int] = lambda: 0

    @classmethod
    async def open(
        cls,
        address: str,
        port: int,
        link: ClusterLink,
        received: Received,
        lost: Lost,
        timeout_s: float,
        poll_s: float = 0.0,
    ) -> LinkStream:
        """Connect to the executor at `address`'s host on `port` and run the handshake.

        Raises NotOfCluster when the executor refuses us or cannot prove the token, and
        OSError or TimeoutError when the port cannot be reached."""
        host = address.rsplit(":", 1)[0].strip("[]")
        loop = asyncio.get_running_loop()
        context = link.link_ssl_context()
        stream = cls(address, link, received, lost, poll_s)
        async with asyncio.timeout(timeout_s):
            await loop.create_connection(
                lambda: stream,
                host,
                port,
                ssl=context,
                server_hostname=link.server_name if context is not None else None,
            )
            try:
                await stream._handshake
            except BaseException:
                stream._gone = True  # never opened: its close is nobody's stream lost
                stream._abort()
                raise
        return stream

    # -- the handshake ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def _opening_received(self, data: bytes) -> None:
        self._opening += data
        if not self._executor_nonce:
            if len(self._opening) < wire.EXECUTOR_HELLO_BYTES:
                return
            hello = bytes(self._opening[: wire.EXECUTOR_HELLO_BYTES])
            del self._opening[: wire.EXECUTOR_HELLO_BYTES]
            if hello[: len(wire.MAGIC)] != wire.MAGIC:
                self._fail_handshake(ConnectionError("the port does not speak the link"))
                return
            self._executor_nonce = hello[len(wire.MAGIC) :]
            proof = self._link.link_proof(self._executor_nonce, self._gateway_nonce)
            assert self._transport is not None
            self._transport.write(wire.MAGIC + self._gateway_nonce + proof)
        if not self._opening:
            return
        if self._opening[:1] == wire.REFUSED:
            reason = wire.Frames(wire.MAX_REASON_BYTES).feed(bytes(self._opening[1:]))
            if reason:
                text = reason[0].decode("utf-8", "replace")
                self._fail_handshake(NotOfCluster(f"it refused this gateway's link ({text})"))
            return
        if len(self._opening) < wire.VERDICT_BYTES:
            return
        verdict = bytes(self._opening[: wire.VERDICT_BYTES])
        rest = bytes(self._opening[wire.VERDICT_BYTES :])
        if verdict[:1] != wire.ACCEPTED:
            self._fail_handshake(ConnectionError("the executor answered the handshake wrongly"))
            return
        try:
            self._link.verify_link(self._executor_nonce, self._gateway_nonce, verdict[1:])
        except NotOfCluster as refused:
            self._fail_handshake(refused)
            return
        self._opening = bytearray()
        self._handshake.set_result(None)
        if rest:
            self.data_received(rest)

    def _fail_handshake(self, error: Exception) -> None:
        self._gone = True
        if not self._handshake.done():
            self._handshake.set_exception(error)
        self._abort()

    # -- frames ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._handshake.done():
            try:
                self._opening_received(data)
            except wire.FrameTooLarge as error:
                self._fail_handshake(ConnectionError(f"the executor's refusal: {error}"))
            return
        self._poll.heard()
        try:
            frames = self._frames.feed(data)
            received = self._received
            for frame in frames:
                received(pb.ResultBatch.FromString(frame))
        except (wire.FrameTooLarge, DecodeError) as error:
            self._gone_now(f"executor {self._address} sent a bad frame on the link: {error}")
            self._abort()

    def send(self, request: pb.ExecuteRequest) -> None:
        queue = self._queue
        queue.append(request)
        if len(queue) >= wire.frame_cap(self.in_flight()):
            self._flush()
        elif not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        batch, self._queue = self._queue, []
        transport = self._transport
        if batch and transport is not None and not transport.is_closing():
            frame = wire.frame(pb.RequestBatch(requests=batch).SerializeToString())
            transport.write(frame)
            self._written += len(frame)
            self._poll.expect(self.in_flight())
            unsent = transport.get_write_buffer_size()
            if unsent > UNSENT_MAX_BYTES:
                self._drop(
                    f"executor {self._address} is not reading its requests: {unsent} bytes "
                    f"unsent on the execution link, past its bound of {UNSENT_MAX_BYTES}"
                )

    # -- flow control ----------------------------------------------------------------------

    def pause_writing(self) -> None:
        """The executor is behind on reading: from now on it must take some of its requests
        every STALL_S, or the link is dropped (`_check_stall`)."""
        self._taken_at_check = self._taken()
        self._stall = asyncio.get_running_loop().call_later(STALL_S, self._check_stall)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _check_stall(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        taken = self._taken()
        if taken == self._taken_at_check:
            self._drop(
                f"executor {self._address} has read none of its requests for {STALL_S:g}s "
                f"({transport.get_write_buffer_size()} bytes unsent on the execution link)"
            )
            return
        self._taken_at_check = taken
        self._stall = asyncio.get_running_loop().call_later(STALL_S, self._check_stall)

    def _taken(self) -> int:
        """Bytes the kernel has taken from the transport (sent, or queued in the socket)."""
        transport = self._transport
        return self._written - (transport.get_write_buffer_size() if transport else 0)

    def _drop(self, reason: str) -> None:
        """Give up on the link: its waiting requests fail now, the connection dials again."""
        self._gone_now(reason)
        self._abort()

    def unsent(self) -> set[int]:
        return {r.id for r in self._queue if not r.cancel}

    # -- the end ---------------------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()  # no stall check outlives the link
        if not self._handshake.done():
            self._handshake.set_exception(
                ConnectionError(f"the executor closed the link during the handshake: {exc}")
            )
            return
        detail = f": {exc}" if exc is not None else ""
        self._gone_now(f"executor {self._address} closed the execution link{detail}")

    def _gone_now(self, reason: str) -> None:
        if not self._gone:
            self._gone = True
            self._lost(reason)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def close(self) -> None:
        self._gone = True  # closing it ourselves: nothing to report
        if self._transport is not None:
            self._transport.close()


# -- the Execute RPC -------------------------------------------------------------------------


class GrpcStream:
    """The `Execute` RPC: a writer task sends whatever queued since its last write as one
    message; a reader task hands each result batch on."""

    def __init__(
        self,
        address: str,
        stub: pb_grpc.ExecutorStub,
        metadata: tuple[tuple[str, str], ...],
        received: Received,
        lost: Lost,
    ) -> None:
        self._address = address
        self._received = received
        self._lost = lost
        self._queue: list[pb.ExecuteRequest] = []
        self._queued = asyncio.Event()
        self._call: grpc.aio.StreamStreamCall = stub.Execute(metadata=metadata)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"write {address}"),
            asyncio.create_task(self._read_loop(), name=f"read {address}"),
        ]

    def send(self, request: pb.ExecuteRequest) -> None:
        self._queue.append(request)
        self._queued.set()

    def unsent(self) -> set[int]:
        return {r.id for r in self._queue if not r.cancel}

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._queued.wait()
                self._queued.clear()
                batch, self._queue = self._queue, []
                if batch:
                    await self._call.write(pb.RequestBatch(requests=batch))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._lost(f"writing to executor {self._address} failed: {error}")

    async def _read_loop(self) -> None:
        try:
            while True:
                batch = await self._call.read()
                if batch is grpc.aio.EOF:
                    self._lost(f"executor {self._address} closed the execution stream")
                    return
                self._received(batch)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as error:
            self._lost(f"executor {self._address} is unreachable: {error.code().name}")
        except Exception as error:
            self._lost(f"execution stream to {self._address} failed: {error}")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._call.cancel()
