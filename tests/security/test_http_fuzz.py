"""A property-based fuzz of the gateway's HTTP protocol (gateway/http/) on a real socket.

Any bytes a client sends (request-shaped, then mutated: bad methods, targets, versions, header
names and values, Content-Length and chunked framing, Expect, Upgrade, pipelined requests) get
zero or more well-formed HTTP/1.1 responses, each a 2xx, 100, or a 4xx refusal: never a 5xx
(the application here never fails), never a dead server; after every example a plain request
on a new connection is answered. Bounded: a fixed `max_examples`, each connection read for at
most READ_S (an incomplete request is then left to the server's timeouts, as a real one is).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.flow.asgi import Receive, Scope, Send
from gateway.http import GatewayHttpProtocol, HttpLimits
from tests.gateway.http_serving import Serving, serving

READ_S = 0.15
ALLOWED = {b"100", b"200", b"400", b"408", b"431"}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the body's digest: a response never echoes the client's bytes."""
    digest = hashlib.sha256()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        digest.update(message["body"])
        more = message["more_body"]
    answer = digest.hexdigest()[:16].encode()
    headers = [(b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def server() -> Iterator[Serving]:
    limits = HttpLimits(header_max_bytes=4096, header_timeout_s=2, body_timeout_s=2)
    with serving(app, GatewayHttpProtocol.with_limits(limits)) as running:
        yield running


tokens = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"CONNECT", b"G\x00T", b""])
targets = st.sampled_from(
    [b"/", b"/fs/x?y=1", b"http://h/p", b"*", b"/%zz", b"/\xff", b"/a#b", b"", b"host:443"]
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x", b""])
header_names = st.sampled_from(
    [b"Host", b"Content-Length", b"Transfer-Encoding", b"Expect", b"Connection", b"Upgrade"]
) | st.binary(max_size=12)
header_values = st.sampled_from(
    [
        b"x",
        b"5",
        b"-1",
        b"99999999999999999999",
        b"chunked",
        b"100-continue",
        b"close",
        b"keep-alive",
        b"Upgrade",
        b"websocket",
        b"h2c",
        b"identity, chunked",
    ]
) | st.binary(max_size=24)
bodies = st.binary(max_size=64) | st.sampled_from(
    [b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"3\r\nabc\r\n", b"0\r\n\r\n"]
)


@st.composite
def request_bytes(draw: st.DrawFn) -> bytes:
    head = draw(tokens) + b" " + draw(targets) + b" " + draw(versions) + b"\r\n"
    for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=5)):
        head += name + b": " + value + b"\r\n"
    return head + b"\r\n" + draw(bodies)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(draw(st.lists(request_bytes(), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(0, 3))):  # mutate a few bytes
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _exchange(server: Serving, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_S) as sock:
        with contextlib.suppress(OSError):  # refused and closed while sending
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=streams())
@example(data=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 40)  # pipelined past the bound
@example(data=b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc")
@example(data=b"GET /\xff HTTP/1.1\r\n\r\n")  # not ASCII: the path cannot be decoded
@example(data=b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n")  # past header_max_bytes
def test_any_bytes_get_well_formed_answers_and_the_server_goes_on(
    server: Serving, data: bytes
) -> None:
    answer = _exchange(server, data)
    if answer:
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    statuses = set(re.findall(rb"HTTP/1\.1 (\d{3}) ", answer))
    assert statuses <= ALLOWED, (statuses, answer[:500])
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
