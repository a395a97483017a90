"""One HTTP/1.1 connection of the gateway's web server: httptools parses, the app gets ASGI 3.

uvicorn still runs the server (sockets, TLS, signals, lifespan, graceful shutdown: it calls
`shutdown()` on each connection in `server_state.connections`, then waits for them and for
`server_state.tasks`); this class replaces only uvicorn's per-connection protocol, which it is
passed as `http=`. Why: measured inside the gateway on the quote action, interleaved against
uvicorn's protocol (scripts/deadline_ab.py, 8 rounds each; docs/benchmark.md), a lean protocol
on httptools took the gateway's CPU per request from 317 to 264 µs at 1 connection, 212 to 175 at
4 and 126 to 107 at 64, for 1.09x, 1.26x and 1.14x the throughput. Per request it makes one
scope, one task and one write, and no timer, no `asyncio.Event` and no loop-turn callback.

What a connection does (the request's own exchange is gateway/http/cycle.py):
- keep-alive, and pipelining: a request that arrives while one is answered waits, with reading
  paused, and starts when that response is complete; at most PIPELINE_MAX wait (more: those read
  are answered, nothing more is read, and the connection closes after the last);
- a response given before its request's body arrived (a 413) closes the connection after it,
  lingering so the client gets it, instead of reading the rest;
- `Connection: close`, HTTP/1.0 and the request cap (`max_requests_per_connection`) close the
  connection after the response; an Upgrade (WebSocket, CONNECT) is served as plain HTTP and
  then closed: the gateway speaks no other protocol;
- the shared web server's limits (`HttpLimits`): the head's size is counted in `data_received`
  before httptools sees the bytes and checked after each read, so the parser never holds more
  than the limit plus one read (httptools joins header pieces by concatenation: an unbounded
  header costs quadratic time, a 64 MB one stalled the loop for 5.7 s); the head must arrive
  within its timeout of the connection going idle (or opening), the body within its timeout plus
  1 s per `body_min_rate` bytes, the clock stopped while the application is behind. Refusals are
  the gateway's problem bodies (a ServiceProblem on `/fs/`), never seen by the application;
- one timer per connection for all of it, lazily re-armed: when it fires it computes the
  deadline from the connection's state (idle since, head or body since, bytes received) and
  acts or re-arms for the rest; a request only writes a few attributes;
- an invalid request is answered 400 `invalid_http` naming the parser's reason;
- under TLS the ASGI TLS extension, built once per connection, with the client certificate's
  fingerprint (CLIENT_CERT_SHA256);
- write flow control (the application's `send` waits while the transport's buffer is full) and
  read flow control (reading pauses past 64 KiB of body the application has not taken).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from gateway.http.cycle import HIGH_WATER, Cycle
from gateway.http.limits import LINGER_S, HttpLimits, refusal
from gateway.http.tls import tls_extension

PIPELINE_MAX = 32  # requests read ahead of their answers on one connection


class _PipelineFull(Exception):
    pass


# What part of a request the connection is reading.
_HEAD = 0  # waiting for a request, or inside its head
_BODY = 1  # the head is complete, the body is not
_DONE = 2  # the request is read; the application has it


class GatewayHttpProtocol(asyncio.Protocol):
    """Use `with_limits(HttpLimits(...), tls=...)` for the class to pass as uvicorn's `http`."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    tls: ClassVar[bool] = False

    @classmethod
    def with_limits(cls, limits: HttpLimits, *, tls: bool = False) -> type[GatewayHttpProtocol]:
        return type(cls.__name__, (cls,), {"limits": limits, "tls": tls})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.app_state = app_state
        self.asgi_version = config.asgi_version
        self.root_path = config.root_path
        self.keep_alive_s = float(config.timeout_keep_alive)
        self.parser = httptools.HttpRequestParser(self)
        # Answer the first of pipelined requests even when a later one says Connection: close.
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.default_headers: list[tuple[bytes, bytes]] = []
        self.cycle: Cycle | None = None  # the request being read or answered last
        self.pipeline: deque[Cycle] = deque()  # read, waiting for the response before them
        self.read_paused = False
        self.write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._tls_extension: dict[str, Any] | None = None
        # The request head being parsed.
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_100 = False
        # Limits: what is being read, since when, and how much of it.
        self._phase = _HEAD
        self._since = 0.0  # loop time the connection went idle (or opened), or the head ended
        self._received = 0  # bytes received on this connection
        self._mark = 0  # `_received` when the current head (or body) began
        self._requests = 0
        self._timer: asyncio.TimerHandle | None = None
        self._discarding = False  # refused or upgraded: what still arrives is dropped

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # uvicorn's union
        self.transport = transport
        self.default_headers = self.server_state.default_headers
        self._server = get_local_addr(transport)
        self._client = get_remote_addr(transport)
        self._scheme = "https" if is_ssl(transport) else "http"
        if self.tls:
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                self._tls_extension = tls_extension(ssl_object)
        self._since = now = self.loop.time()
        self._arm(now + self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        cycle = self.cycle
        if cycle is not None:
            if not cycle.complete:
                cycle.disconnected = True
            cycle.wake()
        self.write_paused = False
        self._wake_writers()
        if exc is None:
            self.transport.close()

    def eof_received(self) -> None:
        pass  # a half-closed client still gets its answer; the transport then closes

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self._received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgraded()
        except httptools.HttpParserError as error:
            raised = error.__context__  # what a callback of ours raised, if one did
            if isinstance(raised, _PipelineFull):
                self._pipeline_full()
                return
            if not isinstance(error, httptools.HttpParserCallbackError):
                raised = None
            reason = str(raised or error) or type(raised or error).__name__
            self._refuse(400, "invalid_http", f"invalid HTTP request: {reason}", linger=True)
            return
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

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_writers()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect_100 = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_100 = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if len(self.pipeline) >= PIPELINE_MAX:
            raise _PipelineFull  # stops the parser: see data_received
        self._phase = _BODY
        self._mark = self._received  # the body's bytes are counted from here (give or take a read)
        self._since = now = self.loop.time()
        self._arm(now + self.limits.body_timeout_s)
        parser = self.parser
        url = self._url
        if url[:1] == b"/" and b"#" not in url:
            raw_path, _, query = url.partition(b"?")
        else:  # absolute form, or a fragment: httptools splits it (or raises: 400)
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        version = parser.get_http_version()
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": version,
            "server": self._server,
            "client": self._client,
            "scheme": self._scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": self.root_path,
            "path": self.root_path + path if self.root_path else path,
            "raw_path": self.root_path.encode() + raw_path if self.root_path else raw_path,
            "query_string": query,
            "headers": self._headers,
            "state": self.app_state.copy(),
        }
        if self._tls_extension is not None:
            scope["extensions"] = {"tls": self._tls_extension}
        self._requests += 1
        cap = self.limits.max_requests_per_connection
        keep_alive = (
            version != "1.0" and parser.should_keep_alive() and not (cap and self._requests >= cap)
        )
        cycle = Cycle(scope, self, keep_alive=keep_alive, expect_100=self._expect_100)
        previous = self.cycle
        self.cycle = cycle
        if previous is None or previous.complete:
            self._start(cycle)
        else:  # pipelined: answered in order, after the one before it
            self.pause_reading()
            self.pipeline.append(cycle)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.complete:
            return  # answered already (say 413): the rest of the body is read and dropped
        cycle.chunks.append(body)
        cycle.held += len(body)
        if cycle.held > HIGH_WATER:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        self._mark = self._received
        if cycle is not None and cycle.complete:
            self._went_idle(self.loop.time())  # the body ended after its response
            return
        self._phase = _DONE  # the application has the request: no read deadline
        if cycle is not None:
            cycle.more_body = False
            cycle.wake()

    # What the cycles and uvicorn's server call

    def response_complete(self, cycle: Cycle) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if not cycle.keep_alive:
            if self._phase == _BODY:  # answered before its body arrived: drop the rest
                self._linger()
            else:
                self.transport.close()
            return
        if self.pipeline:
            self.resume_reading()
            self._start(self.pipeline.popleft())
            return
        self.resume_reading()
        if self._phase == _DONE:  # else this request's body is still arriving
            self._went_idle(self.loop.time())

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close an idle connection, end a busy one after its
        response."""
        cycle = self.cycle
        if cycle is None or cycle.complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    def pause_reading(self) -> None:
        if not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Until the transport's buffer has room again (or the connection is gone)."""
        if not self.write_paused:
            return
        if self._writable is None:
            self._writable = self.loop.create_future()
        await asyncio.shield(self._writable)

    # Inside

    def _start(self, cycle: Cycle) -> None:
        task = self.loop.create_task(cycle.run(self.app))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _wake_writers(self) -> None:
        writable = self._writable
        if writable is not None:
            self._writable = None
            if not writable.done():
                writable.set_result(None)

    def _pipeline_full(self) -> None:
        """The client sent more than PIPELINE_MAX requests ahead of their answers: those read
        are answered in order, nothing more is read, and the connection closes after the last."""
        self._discarding = True
        self._phase = _DONE
        self.pipeline[-1].keep_alive = False

    def _upgraded(self) -> None:
        """An Upgrade or CONNECT request: httptools stops at its head, and what follows would
        be another protocol. Answer it as plain HTTP, read nothing more, then close."""
        self._discarding = True
        self._phase = _DONE
        cycle = self.cycle
        if cycle is not None and not cycle.complete:
            cycle.keep_alive = False
            cycle.more_body = False
            cycle.wake()
        else:
            self.transport.close()

    def _went_idle(self, now: float) -> None:
        """The response is out and no request waits: the next head is due from now."""
        self._phase = _HEAD
        self._since = now
        limits = self.limits
        self._arm(now + min(self.keep_alive_s, limits.header_timeout_s))

    def _arm(self, when: float) -> None:
        """Check by `when`. The armed timer is kept unless it would fire later: it re-arms
        itself for what is left when it fires early."""
        timer = self._timer
        if timer is None:
            self._timer = self.loop.call_at(when, self._check)
        elif timer.when() > when:
            timer.cancel()
            self._timer = self.loop.call_at(when, self._check)

    def _deadline(self) -> float | None:
        """When what is being read is overdue, from the connection's state (None: nothing is)."""
        limits = self.limits
        if self._phase == _DONE:
            return None
        if self._phase == _HEAD:
            if self._received == self._mark and self._requests:
                return self._since + min(self.keep_alive_s, limits.header_timeout_s)
            return self._since + limits.header_timeout_s
        if self.read_paused:  # the application is behind, not the client
            self._mark = self._received
            self._since = self.loop.time()
        return (
            self._since
            + limits.body_timeout_s
            + (self._received - self._mark) / limits.body_min_rate
        )

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        deadline = self._deadline()
        if deadline is None:
            return  # the application has the request: its response arms the timer again
        if deadline > self.loop.time():
            self._timer = self.loop.call_at(deadline, self._check)
            return
        if self._phase == _HEAD:
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
        if cycle is not None:
            # The application waiting for the rest of the body gets http.disconnect now.
            cycle.disconnected = True
            cycle.wake()
            if cycle.started:
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
        """Answer a refusal the application never sees, and close the connection (`linger`:
        the client is probably still sending, say a huge head)."""
        self._phase = _DONE
        self.transport.write(refusal(status, code, message, self._url))
        if linger:
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        """Close a connection whose client is probably still sending: closing at once with its
        bytes unread would make the kernel reset the connection, and the client could lose the
        answer. So the write side is shut, what still arrives is dropped unparsed, and the
        connection closes after LINGER_S."""
        self._discarding = True
        self._phase = _DONE
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)
