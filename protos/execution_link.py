"""The execution link's wire format: the execution stream over a plain socket.

The `Execute` RPC carries the same messages, but through gRPC's C core: every message crosses
from the core's poller thread to the asyncio loop and back, which measured as most of a
request's cost at one connection (docs/benchmark.md, "The execution link"). The link sends the
same `RequestBatch` and `ResultBatch` messages as length-prefixed frames on a TCP connection
(TLS under mTLS) that the event loops read and write themselves.

A connection opens with a mutual challenge, before any frame is read:

1. executor -> gateway: `MAGIC` + the executor's nonce;
2. gateway -> executor: `MAGIC` + the gateway's nonce + `proof("gateway", ...)`;
3. executor -> gateway: `ACCEPTED` + `proof("executor", ...)`, or `REFUSED` + one frame naming
   why, and the executor closes.

Each proof is an HMAC-SHA256 keyed with the cluster token over both nonces, so neither side
sends the token, a recorded handshake cannot be replayed, and a gateway learns that the executor
knows the token too (as Describe's proof tells it on the gRPC side). With no token (mTLS only)
the proofs are empty-keyed and the TLS handshake is the proof.

After that, each frame is a 4-byte big-endian length and that many bytes of one message:
`RequestBatch` from the gateway, `ResultBatch` from the executor (an empty one is a heartbeat).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
import struct
import tempfile
from typing import Final

MAGIC: Final = b"FHX1"
NONCE_BYTES: Final = 32
PROOF_BYTES: Final = 32
ACCEPTED: Final = b"\x01"
REFUSED: Final = b"\x00"
#: The executor's opening, the gateway's answer and the executor's verdict, in bytes.
EXECUTOR_HELLO_BYTES: Final = len(MAGIC) + NONCE_BYTES
GATEWAY_HELLO_BYTES: Final = len(MAGIC) + NONCE_BYTES + PROOF_BYTES
VERDICT_BYTES: Final = 1 + PROOF_BYTES
#: The whole handshake must be done within this, or the executor closes the connection.
HANDSHAKE_TIMEOUT_S: Final = 5.0
#: The largest frame either side reads (the same bound the gRPC channel has).
MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
#: The batching rule: a frame leaves at the end of the loop turn its first message was queued
#: in, or as soon as it holds `frame_cap` messages. Ending frames only at turn ends made the two
#: processes take turns under load (the gateway parsed 64 requests while the executor idled,
#: then the other way round): 0.83x the gRPC stream's throughput at 64 connections; a cap of 16
#: gave 1.29x (docs/benchmark.md, "The execution link").
FRAME_MESSAGES: Final = 16


def frame_cap(in_flight: int) -> int:
    """Most requests a frame holds while `in_flight` requests are out: 16, or with fewer out,
    half of them, so at low load the executor starts on the first requests of a burst while
    the gateway still reads the rest. Measured against a fixed 16 (interleaved, 8 rounds each):
    1.26x the throughput at 4 connections, 1.19x at 16, the same CPU per request at 64.
    Results go back in frames of 16: making those adapt too cost the executor CPU at 64."""
    if in_flight >= FRAME_MESSAGES:
        return FRAME_MESSAGES
    return max(1, in_flight // 2)


#: A refusal's reason is at most this long.
MAX_REASON_BYTES: Final = 512

_LENGTH = struct.Struct("!I")


def proof(token: bytes, role: str, executor_nonce: bytes, gateway_nonce: bytes) -> bytes:
    """What `role` ("gateway" or "executor") sends to show it holds `token`."""
    message = b"flowhost execution link " + role.encode() + b"\0" + executor_nonce + gateway_nonce
    return hmac.new(token, message, hashlib.sha256).digest()


def frame(payload: bytes) -> bytes:
    """One frame: the payload's length, then the payload."""
    return _LENGTH.pack(len(payload)) + payload


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # `ssl` loads a certificate chain only from files: they live for this call, 0600, in a
    # private temporary folder.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "chain.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(cert.rstrip(b"\n") + b"\n" + key)
        context.load_cert_chain(path)


def server_ssl_context(cert: bytes, key: bytes, ca: bytes) -> ssl.SSLContext:
    """The executor's TLS under mTLS: its certificate; a client certificate from `ca` required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.decode())
    _load_chain(context, cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(cert: bytes, key: bytes, ca: bytes) -> ssl.SSLContext:
    """The gateway's TLS under mTLS: its client certificate; the executor's checked against
    `ca` (and its name, given at connect)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca.decode())
    _load_chain(context, cert, key)
    return context


class FrameTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size} bytes is over the limit of {limit}")


class Frames:
    """Cuts whole frames out of the bytes a connection receives, refusing one over the limit
    as soon as its length arrives (before its bytes are held)."""

    __slots__ = ("_buffer", "_limit")

    def __init__(self, limit: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        """The frames `data` completes, in order (raises FrameTooLarge)."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start, end = 0, len(buffer)
        while end - start >= 4:
            (size,) = _LENGTH.unpack_from(buffer, start)
            if size > self._limit:
                raise FrameTooLarge(size, self._limit)
            if end - start - 4 < size:
                break
            frames.append(bytes(buffer[start + 4 : start + 4 + size]))
            start += 4 + size
        if start:
            del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that are not yet part of a whole frame."""
        return len(self._buffer)
