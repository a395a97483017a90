"""The executor's end of the execution link: execution streams over a plain socket.

Every connection starts with the handshake of protos/execution_link.py, bounded in bytes and in
time, before a single frame is read: a caller that does not prove the cluster token within
HANDSHAKE_TIMEOUT_S, or sends more than a handshake, is closed. At most MAX_HANDSHAKING
connections may be in that state at once (under mTLS from the TCP accept, so the TLS handshake
counts too); more are closed as they arrive, so a flood of strangers cannot hold the executor's
memory or its CPU. An accepted connection is one `ExecutionSession`.

Frames out: what the session emits during one loop turn leaves at the end of that turn as one
write (at most `batch_max` results per frame), so under load a frame carries many; when the
session has nothing else running (`ExecutionSession.busy`), nothing more can join the frame in
this turn and it leaves at once, inside the execution's last step. A heartbeat (an empty frame)
goes out when nothing else did for HEARTBEAT_S, as on the gRPC stream. While the gateway does
not read the results (the transport's buffer is past its high-water mark) the connection reads
no requests, so a stuck gateway cannot make an executor hold ever more results.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from typing import cast

from google.protobuf.message import DecodeError

from executors.execution_session import Emitted, ExecutionSession, add_to_batch
from executors.host import Host
from executors.link import LinkCredentials
from executors.stats import StreamStats
from protos import execution_link as wire
from protos.flowhost.v1 import executor_pb2 as pb
from protos.reply_poll import ReplyPoll

log = logging.getLogger("flowhost.executor")

#: Connections still in their handshake at once; more are closed on arrival.
MAX_HANDSHAKING = 64


class ExecutionLinkServer:
    def __init__(
        self,
        host: Host,
        stats: StreamStats,
        credentials: LinkCredentials,
        batch_max: int,
        heartbeat_s: float,
        poll_s: float = 0.0,
    ) -> None:
        self._host = host
        self._stats = stats
        self._credentials = credentials
        self._batch_max = batch_max
        self._heartbeat_s = heartbeat_s
        self._poll_s = poll_s
        self._server: asyncio.Server | None = None
        self._connections: set[_LinkConnection] = set()
        self.handshaking = 0
        self.port = 0

    async def start(self, bind_host: str, port: int) -> int:
        """Listen on bind_host:port (0: a free port); returns the port."""
        loop = asyncio.get_running_loop()
        context = self._credentials.link_ssl_context()
        # Under mTLS the TLS handshake runs on the accepted connection (`_TlsGate`) rather than
        # in the listener, so it counts against MAX_HANDSHAKING too: a flood of TLS hellos is
        # bounded like one of link hellos.
        self._server = await loop.create_server(
            (lambda: _LinkConnection(self))
            if context is None
            else (lambda: _TlsGate(self, context)),
            bind_host,
            port,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def admit_handshake(self, transport: asyncio.BaseTransport) -> bool:
        """Count a connection that starts its handshake, or close it when MAX_HANDSHAKING are."""
        if self.handshaking >= MAX_HANDSHAKING:
            log.warning("execution link: %d handshakes open; closing a new one", MAX_HANDSHAKING)
            cast(asyncio.Transport, transport).abort()
            return False
        self.handshaking += 1
        return True

    async def close(self) -> None:
        """Stop listening and close every connection (their sessions are abandoned)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _LinkConnection(asyncio.Protocol):
    def __init__(self, server: ExecutionLinkServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self._hello = bytearray()
        self._frames = wire.Frames()
        self._session: ExecutionSession | None = None
        self._pending: list[Emitted] = []
        self._flush_due = False
        #: After results leave, the loop polls for the gateway's next requests.
        self._poll = ReplyPoll(server._poll_s)
        self._sent_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._handshaking = False
        self._frame_max = min(server._batch_max, wire.FRAME_MESSAGES)

    # -- the handshake ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport, counted: bool = False) -> None:
        """`counted`: the TLS gate already counted this connection's handshake."""
        self._transport = stream = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        server = self._server
        if not counted and not server.admit_handshake(stream):
            return
        self._handshaking = True
        server._connections.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(wire.HANDSHAKE_TIMEOUT_S, self._handshake_late)
        stream.write(wire.MAGIC + self._nonce)

    def _handshake_done(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self._server.handshaking -= 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _handshake_late(self) -> None:
        self._refuse(f"no handshake within {wire.HANDSHAKE_TIMEOUT_S:g}s")

    def _refuse(self, reason: str) -> None:
        log.warning("execution link: refused %s: %s", self._peer, reason)
        self._handshake_done()
        if self._transport is not None and not self._transport.is_closing():
            message = reason.encode()[: wire.MAX_REASON_BYTES]
            self._transport.write(wire.REFUSED + wire.frame(message))
            self._transport.close()

    @property
    def _peer(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a caller"

    def _hello_received(self, data: bytes) -> None:
        self._hello += data
        if len(self._hello) < wire.GATEWAY_HELLO_BYTES:
            return
        if len(self._hello) > wire.GATEWAY_HELLO_BYTES:
            self._refuse("it sent more than a handshake before being accepted")
            return
        hello = bytes(self._hello)
        magic, rest = hello[: len(wire.MAGIC)], hello[len(wire.MAGIC) :]
        if magic != wire.MAGIC:
            self._refuse("it does not speak the execution link (wrong opening bytes)")
            return
        gateway_nonce, gateway_proof = rest[: wire.NONCE_BYTES], rest[wire.NONCE_BYTES :]
        token = self._server._credentials.link_accepts(gateway_proof, self._nonce, gateway_nonce)
        if token is None:
            self._refuse("its proof of the cluster token is not this executor's cluster's")
            return
        self._handshake_done()
        assert self._transport is not None
        mine = wire.proof(token, "executor", self._nonce, gateway_nonce)
        self._transport.write(wire.ACCEPTED + mine)
        self._session = ExecutionSession(self._server._host, self._server._stats, self._emit)
        self._sent_at = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(
            self._server._heartbeat_s, self._heartbeat
        )

    # -- frames ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._poll.heard()
        session = self._session
        if session is None:
            if self._handshaking:
                self._hello_received(data)
            return
        try:
            frames = self._frames.feed(data)
            for frame in frames:
                session.receive(pb.RequestBatch.FromString(frame))
        except (wire.FrameTooLarge, DecodeError) as error:
            log.error("execution link from %s: %s; closing it", self._peer, error)
            self.close()

    def eof_received(self) -> bool:
        """The gateway half-closed: answer what is still running, then close."""
        if self._session is None:
            return False
        task = asyncio.ensure_future(self._session.settle())
        task.add_done_callback(lambda _: self.close())
        return True

    def _emit(self, item: Emitted) -> None:
        self._pending.append(item)
        session = self._session
        if len(self._pending) >= self._frame_max or (session is not None and not session.busy):
            self._flush()
        elif not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        pending, self._pending = self._pending, []
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        batch_max = self._frame_max
        stats = self._server._stats
        frames: list[bytes] = []
        batch = pb.ResultBatch()
        for item in pending:
            add_to_batch(batch, item)
            if len(batch.results) >= batch_max:
                frames.append(wire.frame(batch.SerializeToString()))
                stats.result_batches += 1
                stats.results_sent += len(batch.results)
                batch = pb.ResultBatch()
        if batch.results or batch.progress:
            frames.append(wire.frame(batch.SerializeToString()))
            if batch.results:
                stats.result_batches += 1
                stats.results_sent += len(batch.results)
        if frames:
            transport.write(b"".join(frames))
            self._sent_at = time.monotonic()
            # Results out: the gateway's next requests follow soon.
            session = self._session
            self._poll.expect(len(pending) + (session.running if session is not None else 0))

    def _heartbeat(self) -> None:
        every_s = self._server._heartbeat_s
        since = time.monotonic() - self._sent_at
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if since >= every_s * 0.9:
            transport.write(wire.frame(b""))
            self._sent_at = time.monotonic()
            since = 0.0
        self._timer = asyncio.get_running_loop().call_later(every_s - since, self._heartbeat)

    # -- flow control ----------------------------------------------------------------------

    def pause_writing(self) -> None:
        """The gateway is not reading our results: read no more of its requests (so start no
        more executions) until it catches up; its own writes then back up in turn."""
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    # -- the end ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._handshake_done()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server._connections.discard(self)
        if self._session is not None:
            self._session.abandon()
            self._session = None


class _TlsGate(asyncio.Protocol):
    """An accepted TCP connection under mTLS: counted as a handshake at once, then wrapped in
    TLS (within HANDSHAKE_TIMEOUT_S) and handed to a `_LinkConnection`, still counted, for the
    link's own handshake. Nothing is read before TLS starts."""

    def __init__(self, server: ExecutionLinkServer, context: ssl.SSLContext) -> None:
        self._server = server
        self._context = context
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)
        if not self._server.admit_handshake(stream):
            return
        stream.pause_reading()  # the client hello waits in the socket for the TLS layer
        self._task = asyncio.ensure_future(self._wrap(stream))

    async def _wrap(self, stream: asyncio.Transport) -> None:
        server = self._server
        link = _LinkConnection(server)
        try:
            secure = await asyncio.get_running_loop().start_tls(
                stream,
                link,
                self._context,
                server_side=True,
                ssl_handshake_timeout=wire.HANDSHAKE_TIMEOUT_S,
            )
        except Exception as error:  # a failed TLS handshake of any kind: not counted
            server.handshaking -= 1
            peer = stream.get_extra_info("peername")
            log.warning("execution link: TLS handshake with %s failed: %s", peer, error)
            stream.abort()
            return
        if secure is None:  # the caller went away meanwhile
            server.handshaking -= 1
            return
        link.connection_made(secure, counted=True)

    def connection_lost(self, exc: Exception | None) -> None:
        """Before TLS took the connection over, the caller left: `_wrap` sees it fail."""
