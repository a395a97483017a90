"""One HTTP request and its response, as the ASGI application sees them (`receive`, `send`).

The connection (gateway/http/connection.py) parses the request and feeds its body here; the
application's task runs `run` and writes the response through `send`. What it keeps from
uvicorn's cycle, which it replaces: `receive` hands the body as it arrives (and reading pauses
past 64 KiB held), sends `100 Continue` when the application first asks for a body the client
holds back, and answers `http.disconnect` once the client is gone or the response is complete;
`send` checks every header name and value, frames the body by Content-Length or chunked (none
for HEAD, 204 and 304), waits while the transport's buffer is full, refuses a body longer or
shorter than its Content-Length, and tells the connection when the response is complete (the
connection closes itself after one without keep-alive, or answered before its body arrived).
An application that fails before anything was written is answered 500.

What it does not: the response head is held until the first body message, so a response leaves
in one write (`http.response.start` is never written alone: the client wakes once, and the
gateway makes one send syscall, not two); there is no access log (the gateway switches it off)
and no per-request `asyncio.Event` (a future is made only when `receive` must wait).
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger("uvicorn.error")

HIGH_WATER = 65536  # body bytes held for the application before reading pauses

# uvicorn's checks: a header name is a token, a value has no control character but tab.
_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = (204, 304)
_INTERNAL_ERROR = (
    STATUS_LINES[500] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n"
    b"connection: close\r\n\r\nInternal Server Error"
)


class Connection(Protocol):
    """What a cycle needs of its connection (gateway/http/connection.py)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    default_headers: list[tuple[bytes, bytes]]
    write_paused: bool

    async def drain(self) -> None: ...

    def resume_reading(self) -> None: ...

    def response_complete(self, cycle: Cycle) -> None: ...


class Cycle:
    """One request's exchange. The connection sets `more_body` False when the body is complete,
    `disconnected` when the client is gone, and calls `wake` after either or after body bytes."""

    __slots__ = (
        "_chunked",
        "_connection",
        "_handed_end",
        "_head",
        "_head_request",
        "_remaining",
        "_transport",
        "_waiter",
        "_waiting_100",
        "_written",
        "chunks",
        "complete",
        "disconnected",
        "held",
        "keep_alive",
        "more_body",
        "scope",
        "started",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        connection: Connection,
        *,
        keep_alive: bool,
        expect_100: bool,
    ) -> None:
        self.scope = scope
        self._connection = connection
        self._transport = connection.transport
        self.keep_alive = keep_alive
        # Request side: body chunks not yet handed to the application, and their size.
        self.chunks: list[bytes] = []
        self.held = 0
        self.more_body = True
        self.disconnected = False
        self._handed_end = False  # the application has had the last http.request
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_100 = expect_100
        self._head_request = scope["method"] == "HEAD"
        # Response side.
        self.started = False  # http.response.start was sent
        self._head: bytes | None = None  # the response head, until the first body message
        self._written = False  # some of the response went to the transport
        self.complete = False
        self._chunked = False
        self._remaining = 0  # Content-Length bytes still due

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: Callable[..., Any]) -> None:
        """The application's task: run it, and answer for it when it fails."""
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as error:
            logger.error("Exception in ASGI application\n", exc_info=error)
            self._failed()
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
        else:
            if result is not None:
                logger.error("ASGI callable should return None, but returned '%s'.", result)
                self._transport.close()
            elif not self.complete and not self.disconnected:
                logger.error("ASGI callable returned without completing the response.")
                self._failed()

    def _failed(self) -> None:
        """500 if nothing of the response went out yet, else close: a client must never take a
        half-written response for a whole one."""
        if self.complete or self.disconnected:
            return
        if not self._written and not self._transport.is_closing():
            self._written = self.complete = True
            self.keep_alive = False
            self._transport.write(_INTERNAL_ERROR)
            self._connection.response_complete(self)
        else:
            self._transport.close()

    async def receive(self) -> dict[str, Any]:
        if self._waiting_100:
            self._waiting_100 = False
            if self.more_body and not self.chunks and not self._transport.is_closing():
                self._transport.write(_CONTINUE)
        nothing_new = not self.chunks and (self.more_body or self._handed_end)
        if nothing_new and not self.disconnected and not self.complete:
            self._connection.resume_reading()
            self._waiter = self._connection.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        chunks = self.chunks
        if not chunks:
            body = b""
        elif len(chunks) == 1:
            body = chunks[0]
        else:
            body = b"".join(chunks)
        self.chunks = []
        if self.held > HIGH_WATER:
            self._connection.resume_reading()
        self.held = 0
        more = self.more_body
        if not more:
            self._handed_end = True
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        connection = self._connection
        if connection.write_paused and not self.disconnected:
            await connection.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{kind}'."
                )
            self._start(message["status"], message.get("headers", ()))
            return
        if self.complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after the response.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self._head_request:
            data = b""
        elif self._chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            if len(body) > self._remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self._remaining -= len(body)
            data = body
        head = self._head
        if head is not None:
            self._head = None
            data = head + data if data else head
        if data:
            self._written = True
            self._transport.write(data)
        if more:
            return
        if self._remaining and not self._head_request:
            raise RuntimeError("Response content shorter than Content-Length")
        self.complete = True
        self.wake()
        connection.response_complete(self)  # which closes the connection without keep-alive

    def _start(self, status: int, headers: Any) -> None:
        line = STATUS_LINES.get(status)
        if line is None:
            raise RuntimeError(f"Invalid HTTP status code {status!r} in the response.")
        self.started = True
        self._waiting_100 = False
        if self.more_body:  # answered before the body arrived (say 413): close after it
            self.keep_alive = False
        content = [line]
        framed = False
        close_sent = False
        for name, value in (*self._connection.default_headers, *headers):
            if _BAD_NAME.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if _BAD_VALUE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and not framed:
                try:
                    self._remaining = int(value)
                except ValueError:
                    raise RuntimeError("Invalid Content-Length in the response.") from None
                framed = True
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self._remaining = 0
                self._chunked = framed = True
            elif name == b"connection" and b"close" in _tokens(value):
                self.keep_alive = False
                close_sent = True
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not close_sent:
            content.append(b"connection: close\r\n")
        if not framed and not self._head_request and status not in _NO_BODY_STATUSES:
            self._chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self._head = b"".join(content)


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip() for token in value.lower().split(b",")]
