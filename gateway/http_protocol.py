"""uvicorn's httptools protocol with the writes of one loop turn sent as one.

uvicorn writes a response in two `transport.write` calls, the head at `http.response.start` and
the body at `http.response.body`: two send syscalls and two TCP segments, so the client wakes
twice per response. Measured on the quote action (64 connections, 2 cores): one write per
response took the cluster from ~12.7k to ~14.8k requests/s, with p50 4.7 -> 4.0 ms; the gateway
itself spends less CPU too. Holding writes until the end of the current loop turn keeps every
ordering and flow-control property: nothing is reordered, and a streamed body still goes out
chunk by chunk (each turn's chunks together).

It also keeps one idle timer per connection rather than one per response: uvicorn arms a
keep-alive timer (`loop.call_later`) after every response and cancels it when the next request
arrives, ~1.6% of the gateway's samples under load. Here a response only records when the
connection went idle; a timer that is already armed re-arms itself for the rest of the time
when it finds the connection was busy meanwhile. Idle connections close after
`timeout_keep_alive` as before.

`LimitedHttpToolsProtocol` adds the shared web server's HTTP limits (`HttpLimits`) and, under
TLS, the ASGI TLS extension. The same lazy timer does it: one read-deadline timer per
connection, re-armed for the rest of the time when it fires early, so a request costs a
`loop.time()` and a few attribute writes, never a timer of its own. Measured with
`python -m flowhost.bench.http_protocol_bench` (a bare app, so the protocol is most of the cost): a
first version that also hooked the start of each request and each body chunk took the server
from 17.4 to 19.2 us of CPU per request; hooking only the head's end, the body's end and the
response's end, as now, costs 18.8 -> 20.4 us in the quietest run (0.3-2.6 us more in four
noisier ones; docs/operations.md "Limits").
The head's size is counted in `data_received` before httptools sees the bytes and checked after
each read: the parser never holds more than the limit plus one read (httptools joins header
pieces by concatenation, so an unbounded header costs quadratic time: a 64 MB one stalled the
loop for 5.7 s before this).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.auth import CLIENT_CERT_SHA256
from gateway.errors import SERVICE_PROBLEM_HEADER, GatewayError, api_problem, service_problem

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class CoalescingTransport:
    """Stands in for the connection's transport: what is written during one loop turn leaves
    with one write when the turn ends (or at once before a close)."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """Pass as uvicorn's `http` protocol class."""

    _idle_since: float | None = None  # loop time the last response completed; None: busy
    _idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control stays on the real transport (uvicorn's FlowControl was given it).
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when data arrives: the connection is busy again.
        self._idle_since = None
        super()._unset_keepalive_if_required()

    def on_response_complete(self) -> None:
        # uvicorn's, except the keep-alive timer (see the module docstring).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        now = self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._check_idle)
        self._went_idle(now)

    def _went_idle(self, now: float) -> None:
        """The response is out and no request waits: subclasses start their idle clocks."""

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._idle_since is None or self.transport.is_closing():
            return  # busy: the response that ends it arms the timer again
        remaining = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if remaining > 0:
            self._idle_timer = self.loop.call_later(remaining, self._check_idle)
        else:
            self.timeout_keep_alive_handler()


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may make the server read and hold (settings `http_*`)."""

    header_max_bytes: int = 32 * 1024
    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    body_min_rate: int = 500
    max_requests_per_connection: int = 1000  # 0: no limit


# What part of a request the connection is reading.
_HEAD = 0  # waiting for a request, or inside its head
_BODY = 1  # the head is complete, the body is not
_DONE = 2  # the request is read; the application has it


class LimitedHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """The coalescing protocol with HTTP limits.

    Use `with_limits(HttpLimits(...), tls=...)` to get the class to pass as uvicorn's `http`.
    Per request it overrides only what it must: `data_received` counts bytes, and the head's
    end, the body's end and the response's end move the phase. The head deadline starts when
    the previous response ends (or at connect), so no hook runs when a request begins, and the
    body's progress is the byte count since the head ended.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    _phase = _HEAD
    _received = 0  # bytes received on this connection
    _mark = 0  # `_received` when the current head (or body) began
    _requests = 0
    _read_deadline: float | None = None
    _read_timer: asyncio.TimerHandle | None = None
    _discarding = False

    @classmethod
    def with_limits(
        cls, limits: HttpLimits, *, tls: bool = False
    ) -> type[LimitedHttpToolsProtocol]:
        base = _TlsLimitedHttpToolsProtocol if tls else cls
        return type(base.__name__, (base,), {"limits": limits})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.loop.time(), self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # after a 431: read and drop until the linger ends, parse nothing
        self._received += len(data)
        super().data_received(data)
        # Outside a body every byte belongs to a head (also a pipelined one arriving while
        # the application works on the previous request).
        if (
            self._phase != _BODY
            and self._received - self._mark > self.limits.header_max_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(
                431,
                "header_too_large",
                f"the request head is larger than the limit of {self.limits.header_max_bytes} "
                "bytes (http_header_max_bytes)",
                linger=True,
            )

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._mark = self._received  # the body's bytes are counted from here (give or take a read)
        self._arm(self.loop.time(), self.limits.body_timeout_s)
        super().on_headers_complete()
        self._requests += 1
        cap = self.limits.max_requests_per_connection
        # An upgrade makes no cycle of its own: only a cycle of this request is changed.
        if (
            cap
            and self._requests >= cap
            and self.cycle is not None
            and self.cycle.scope is self.scope
        ):
            self.cycle.keep_alive = False  # answered with Connection: close, then closed

    def on_message_complete(self) -> None:
        self._phase = _DONE
        self._mark = self._received
        self._read_deadline = None  # the application has the request: no read deadline
        super().on_message_complete()

    def _went_idle(self, now: float) -> None:
        if self._phase == _DONE:  # else this request's body is still arriving
            self._phase = _HEAD  # the next head is due from now (the idle time counts)
            self._arm(now, self.limits.header_timeout_s)

    def _arm(self, now: float, timeout_s: float) -> None:
        """Read by `now + timeout_s`. The armed timer is kept unless it would fire too late
        (a body timeout shorter than the head's): with equal timeouts, as by default, a
        request never re-arms it."""
        deadline = self._read_deadline = now + timeout_s
        timer = self._read_timer
        if timer is None:
            self._read_timer = self.loop.call_later(timeout_s, self._check_read)
        elif timer.when() > deadline:
            timer.cancel()
            self._read_timer = self.loop.call_later(timeout_s, self._check_read)

    def _check_read(self) -> None:
        self._read_timer = None
        deadline = self._read_deadline
        if deadline is None or self.transport.is_closing():
            return  # nothing is being read: the next head or body arms the timer again
        if self._phase == _BODY:
            if self.flow.read_paused:  # the application is behind, not the client
                self._mark = self._received
                deadline = self._read_deadline = self.loop.time() + self.limits.body_timeout_s
            deadline += (self._received - self._mark) / self.limits.body_min_rate
        remaining = deadline - self.loop.time()
        if remaining > 0:
            self._read_timer = self.loop.call_later(remaining, self._check_read)
            return
        if self._phase != _BODY:
            if self._received == self._mark:
                self.transport.close()  # nothing of a request arrived: close quietly
                return
            self._refuse(
                408,
                "header_timeout",
                "the request head did not arrive within "
                f"{self.limits.header_timeout_s:g} s (http_header_timeout_s)",
            )
            return
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if cycle is not None:
            # The application waiting for the rest of the body gets http.disconnect now.
            cycle.disconnected = True
            cycle.message_event.set()
        if started:
            self.transport.close()
            return
        self._refuse(
            408,
            "body_timeout",
            f"the request body did not arrive within {self.limits.body_timeout_s:g} s plus "
            f"1 s per {self.limits.body_min_rate} bytes (http_body_timeout_s, "
            "http_body_min_rate)",
        )

    def _refuse(self, status: int, code: str, message: str, *, linger: bool = False) -> None:
        """Answer a refusal the application never sees, and close the connection.

        With `linger`, the client is probably still sending (a huge head): closing at once
        with its bytes unread would make the kernel reset the connection, and the client could
        lose the answer. So the write side is shut, what still arrives is dropped unparsed, and
        the connection closes after LINGER_S.
        """
        self._read_deadline = None
        error = GatewayError(message, status=status, code=code)
        url: bytes = getattr(self, "url", b"")  # set when a request begins
        path = url.split(b"?", 1)[0]
        headers = [(b"content-type", b"application/json")]
        if path.startswith(b"/fs/"):
            body = service_problem(error, path[:200].decode("latin-1"))
            headers.append(SERVICE_PROBLEM_HEADER)
        else:
            body = api_problem(error)
        head = [f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        if not linger:
            self.transport.close()
            return
        self._discarding = True
        transport = self.transport
        if isinstance(transport, CoalescingTransport):
            transport.flush()
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)


class _TlsLimitedHttpToolsProtocol(LimitedHttpToolsProtocol):
    """Under TLS, each request's scope also carries the ASGI TLS extension, built once per
    connection."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._tls = _tls_extension(ssl_object)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]


LINGER_S = 1.0  # how long a refused client's bytes are still read (and dropped)
_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def _tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """scope["extensions"]["tls"] of the ASGI TLS extension, plus the client certificate's
    fingerprint (CLIENT_CERT_SHA256). Only a certificate the client CA verified gets here: an
    unverified one fails the handshake."""
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if der:
        subject = (ssl_object.getpeercert() or {}).get("subject", ())
        name = ",".join(f"{key}={value}" for rdn in reversed(subject) for key, value in rdn)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        CLIENT_CERT_SHA256: hashlib.sha256(der).hexdigest() if der else None,
    }
