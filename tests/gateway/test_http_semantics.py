"""HTTP/1.1 as the gateway's own protocol serves it (gateway/http/connection.py, http_cycle.py), on
real sockets under uvicorn's server: pipelining, 100-continue, HEAD, chunked bodies both ways,
flow control both ways, what a failing application and a vanishing client get, invalid and
upgrade requests, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.flow.asgi import Receive, Scope, Send
from gateway.http import GatewayHttpProtocol, HttpLimits
from gateway.http.connection import PIPELINE_MAX
from tests.gateway.http_serving import Responses, Serving, read_response, read_until_closed, serving

DISCONNECTS: list[str] = []  # paths whose application saw http.disconnect
RELEASE = threading.Event()  # lets /hold answer
NEXT = b"GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n"  # a request after the one a test is about


async def _read_all(receive: Receive, pause_s: float = 0) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        assert message["type"] == "http.request", message
        chunks.append(message["body"])
        more = message["more_body"]
        if pause_s:
            await asyncio.sleep(pause_s)
    return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [(b"content-length", b"%d" % len(body)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/scope":
        picked = {k: scope[k] for k in ("method", "path", "raw_path", "query_string")}
        picked = {k: v.decode() if isinstance(v, bytes) else v for k, v in picked.items()}
        await _answer(send, 200, json.dumps(picked).encode())
    elif path.startswith("/slow/"):
        await asyncio.sleep(float(path.rsplit("/", 1)[1]))
        await _answer(send, 200, path.encode())
    elif path == "/sha":  # reads slowly: the client must be held back, not the body dropped
        body = await _read_all(receive, pause_s=0.002)
        await _answer(send, 200, f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())
    elif path == "/big":  # 8 MiB in 64 KiB chunks
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(128):
            chunk = bytes([i % 251]) * 65536
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/early":  # refuses without reading the body, as a body limit does
        await _answer(send, 413, b"too large")
    elif path == "/no-content":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/fail-before":
        raise RuntimeError("before the response")
    elif path == "/fail-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the head")
    elif path == "/fail-midway":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}
        )
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        raise RuntimeError("half way")
    elif path == "/injected":
        await _answer(send, 200, b"x", (b"x-note", b"a\r\nset-cookie: evil=1"))
    elif path == "/hold":  # answers when the test says; reports a disconnect meanwhile
        await _read_all(receive)
        while not RELEASE.is_set():
            try:
                message = await asyncio.wait_for(receive(), 0.05)
            except TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                DISCONNECTS.append(path)
                return
        await _answer(send, 200, b"released")
    else:
        body = await _read_all(receive)
        await _answer(send, 200, b"echo:" + body)


@pytest.fixture(scope="module")
def server() -> Iterator[Serving]:
    with serving(app, GatewayHttpProtocol.with_limits(HttpLimits())) as running:
        yield running


def test_pipelined_requests_are_answered_in_order(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET /slow/0.2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
            b"GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        responses = Responses(sock)
        bodies = [responses.next()[1] for _ in range(3)]
    assert bodies == [b"/slow/0.2", b"echo:one", b"/slow/0"]


def test_a_client_pipelining_past_the_bound_gets_those_read_answered_then_is_closed(
    server: Serving,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /slow/0.1 HTTP/1.1\r\nHost: x\r\n\r\n" + NEXT * 500)
        answer = read_until_closed(sock)
    responses = answer.split(b"HTTP/1.1 ")[1:]
    assert 1 + PIPELINE_MAX <= len(responses) < 500
    assert responses[0].endswith(b"/slow/0.1") and all(
        r.startswith(b"200 OK") and r.endswith(b"\r\n\r\n/slow/0") for r in responses[1:]
    )
    assert b"connection: close" in responses[-1]
    assert httpx.get(f"{server.url}/slow/0").text == "/slow/0"  # everyone else is served


def test_an_answer_before_the_body_arrived_closes_the_connection_after_it(
    server: Serving,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        sock.sendall(b"x" * 300_000)  # still sending when the answer comes
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"too large"), answer
    assert b"connection: close" in answer
    assert time.monotonic() - started < 5  # closed, not kept reading a 100 MB body


def test_expect_100_continue_asks_for_the_body_then_answers(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ping")
        head, body = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"echo:ping"


def test_head_gets_the_headers_without_the_body_and_the_connection_goes_on(
    server: Serving,
) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        time.sleep(0.3)
        data = sock.recv(65536)
    first, _, second = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and b"content-length: 5" in first
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"\r\n\r\n/slow/0")


def test_a_chunked_request_body_is_read_whole(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        )
        assert read_response(sock)[1] == b"echo:abcdefg"


def test_a_large_upload_to_a_slow_reader_arrives_complete(server: Serving) -> None:
    body = bytes(range(256)) * (16 * 1024)  # 4 MiB: many times the 64 KiB the server holds
    response = httpx.post(f"{server.url}/sha", content=body, timeout=60)
    assert response.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"


def test_a_large_response_to_a_slow_client_arrives_complete(server: Serving) -> None:
    with server.connect(timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(16384):
            received += chunk
            if len(received) < 1 << 20:
                time.sleep(0.001)  # slow at first: the server's buffer fills and it waits
    head, _, chunked = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    body = b""
    while True:
        size_line, _, rest = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, chunked = body + rest[:size], rest[size + 2 :]
    assert body == b"".join(bytes([i % 251]) * 65536 for i in range(128))


def test_204_has_neither_body_nor_chunked_framing(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET /no-content HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        time.sleep(0.3)
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 "), data


@pytest.mark.parametrize("path", ["/fail-before", "/fail-after-start"])
def test_an_application_that_fails_before_writing_is_answered_500(
    server: Serving, path: str
) -> None:
    with server.connect() as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer
    assert b"connection: close" in answer and answer.endswith(b"Internal Server Error")


def test_an_application_that_fails_half_way_leaves_a_response_the_client_sees_is_cut(
    server: Serving,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /fail-midway HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n12345")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/fail-midway")


def test_a_header_value_with_a_line_break_is_never_written(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /injected HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 500 ") and b"evil" not in answer


def test_the_application_hears_of_a_client_that_went_away(server: Serving) -> None:
    DISCONNECTS.clear()
    with server.connect() as sock:
        sock.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not DISCONNECTS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert DISCONNECTS == ["/hold"]


@pytest.mark.parametrize(
    ("path", "problem_kind"), [(b"/api/x", False), (b"/fs/shop/actions/quote", True)]
)
def test_an_invalid_request_is_refused_400_naming_the_reason(
    server: Serving, path: bytes, problem_kind: bool
) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert (b"x-manywho-service-problem-kind: service" in head.lower()) is problem_kind
    problem = json.loads(body)
    text = json.dumps(problem)
    assert "invalid_http" in text and "invalid HTTP request: " in text, problem
    assert httpx.get(f"{server.url}/slow/0").text == "/slow/0"  # everyone else is served


def test_an_upgrade_request_is_answered_as_plain_http_then_closed(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET /slow/0 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            b"\x81\x85not http at all"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n/slow/0"), answer
    assert b"connection: close" in answer


def test_http_1_0_is_answered_then_closed(server: Serving) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /slow/0 HTTP/1.0\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"/slow/0")


def test_the_scope_carries_the_decoded_path_the_raw_path_and_the_query(server: Serving) -> None:
    answers = []
    with server.connect() as sock:
        for target in (b"/sc%6Fpe?a=1&b=%20", b"http://example.test/scope?q", b"/scope#frag"):
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(json.loads(read_response(sock)[1]))
    assert answers[0] == {
        "method": "GET",
        "path": "/scope",
        "raw_path": "/sc%6Fpe",
        "query_string": "a=1&b=%20",
    }
    assert answers[1]["path"] == "/scope" and answers[1]["query_string"] == "q"
    assert answers[2]["path"] == "/scope" and answers[2]["query_string"] == ""


def test_a_graceful_shutdown_finishes_the_request_in_flight_and_closes_idle_ones() -> None:
    RELEASE.clear()
    protocol = GatewayHttpProtocol.with_limits(HttpLimits())
    with (
        serving(app, protocol, keep_alive_s=30) as running,
        running.connect() as idle,
        running.connect() as busy,
    ):
        idle.sendall(b"GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(idle)
        busy.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        running.server.should_exit = True
        assert read_until_closed(idle) == b""  # closed by the shutdown, long before 30 s
        time.sleep(0.3)
        assert running.thread.is_alive()  # still waiting for the request in flight
        RELEASE.set()
        answer = read_until_closed(busy)
        running.thread.join(10)
        assert not running.thread.is_alive()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"released")
    assert b"connection: close" in answer
