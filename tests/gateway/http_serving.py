"""A uvicorn server with the gateway's HTTP protocol and a test's ASGI app, in a thread, on a
socket bound to port 0."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Serving:
    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def connect(self, timeout: float = 5) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


@contextmanager
def serving(app: Any, protocol: type, keep_alive_s: float = 1, **options: Any) -> Iterator[Serving]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        http=protocol,
        log_level="critical",
        lifespan="off",
        timeout_keep_alive=keep_alive_s,
        timeout_graceful_shutdown=10,
        server_header=False,  # as the gateway runs it
        date_header=False,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    scheme = "https" if "ssl_certfile" in options else "http"
    try:
        yield Serving(f"{scheme}://127.0.0.1:{port}", port, server, thread)
    finally:
        server.should_exit = True
        thread.join(15)
        listener.close()


def read_until_closed(sock: socket.socket, limit: int = 64 << 20) -> bytes:
    received = b""
    try:
        while len(received) < limit:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


class Responses:
    """The responses (with Content-Length bodies) arriving on one kept-alive connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self, what: str) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"the connection closed inside a response {what}: {self.buffer!r}"
        self.buffer += chunk

    def next(self) -> tuple[bytes, bytes]:
        """(head, body) of the next response."""
        while b"\r\n\r\n" not in self.buffer:
            self._more("head")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._more("body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return head, body


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """The one response expected on `sock` now (nothing may follow it yet)."""
    responses = Responses(sock)
    answer = responses.next()
    assert not responses.buffer, f"bytes after the response: {responses.buffer!r}"
    return answer
