"""The gateway's HTTP protocol (gateway/http/connection.py) under uvicorn's server, on a real
socket: responses arrive whole and in order, streamed bodies too, keep-alive and `Connection:
close` behave as HTTP/1.1 says, and under TLS it hands the application the client certificate's
fingerprint. tests/gateway/test_http_semantics.py has the rest of HTTP/1.1 it serves."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from flowhost.client import certificate_fingerprint
from gateway.auth import CLIENT_CERT_SHA256
from gateway.flow.asgi import Receive, Scope, Send
from gateway.http import GatewayHttpProtocol, HttpLimits
from tests.gateway.http_serving import serving
from tests.security.certificates import make_certificates, needs_openssl

CHUNKS = 300


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = (await receive()).get("body", b"")
    if scope["path"] == "/tls":
        tls = scope.get("extensions", {}).get("tls", {})
        answer = str(tls.get(CLIENT_CERT_SHA256)).encode()
        headers = [(b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(CHUNKS):
            await send({"type": "http.response.body", "body": b"%05d," % i, "more_body": True})
            if i % 7 == 0:
                await asyncio.sleep(0)  # some chunks in later loop turns
        await send({"type": "http.response.body", "body": b"end"})
        return
    answer = b'{"echo": "' + body + b'"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(answer)),
        (b"x-client-port", b"%d" % scope["client"][1]),
    ]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


KEEP_ALIVE_S = 1


@contextmanager
def serving_url(protocol: type, **options: object) -> Iterator[str]:
    with serving(app, protocol, keep_alive_s=KEEP_ALIVE_S, **options) as server:
        yield server.url


@pytest.fixture(
    scope="module",
    params=[
        GatewayHttpProtocol,
        GatewayHttpProtocol.with_limits(HttpLimits(max_requests_per_connection=0)),
    ],
    ids=["default-limits", "no-request-cap"],
)
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serving_url(request.param) as url:
        yield url


def test_responses_arrive_whole_on_a_kept_alive_connection(base_url: str) -> None:
    client_ports = set()
    with httpx.Client(base_url=base_url) as client:
        for i in range(20):
            response = client.post("/echo", content=b"n%d" % i)
            assert response.status_code == 201
            assert response.json() == {"echo": f"n{i}"}
            assert response.headers["content-length"] == str(len(response.content))
            client_ports.add(response.headers["x-client-port"])
    assert len(client_ports) == 1  # all twenty over one kept-alive connection


def test_a_streamed_body_arrives_complete_and_in_order(base_url: str) -> None:
    response = httpx.get(f"{base_url}/stream")
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    parts = response.text.split(",")
    assert parts[-1] == "end"
    assert [int(p) for p in parts[:-1]] == list(range(CHUNKS))


def test_connection_close_sends_the_response_then_closes(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
        )
        received = b""
        while chunk := raw.recv(65536):  # until the server closes
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 ")
    assert b"connection: close" in head.lower()
    assert body == b'{"echo": "hi"}'


def _request(raw: socket.socket, body: bytes) -> bytes:
    raw.sendall(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    received = b""
    while not received.endswith(b'"}'):
        chunk = raw.recv(65536)
        assert chunk, "the server closed a connection in use"
        received += chunk
    return received


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        assert _request(raw, b"a").endswith(b'{"echo": "a"}')
        idle_from = time.monotonic()
        assert raw.recv(65536) == b""  # closed by the server
        waited = time.monotonic() - idle_from
    assert KEEP_ALIVE_S * 0.9 <= waited < KEEP_ALIVE_S + 1.5


def test_a_connection_in_use_outlives_the_keep_alive_timeout(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        started = time.monotonic()
        count = 0
        while time.monotonic() - started < KEEP_ALIVE_S * 2.5:  # never idle for a whole second
            assert _request(raw, b"%d" % count).endswith(b'{"echo": "%d"}' % count)
            count += 1
            time.sleep(KEEP_ALIVE_S * 0.4)
        assert count >= 6


@needs_openssl
def test_under_tls_the_application_gets_the_client_certificate_fingerprint(
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    protocol = GatewayHttpProtocol.with_limits(HttpLimits(), tls=True)
    tls = {
        "ssl_certfile": str(certificates.server.cert),
        "ssl_keyfile": str(certificates.server.key),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "ssl_ca_certs": str(certificates.ca),
    }
    expected = certificate_fingerprint(certificates.client.cert)
    with serving_url(protocol, **tls) as url:
        with httpx.Client(verify=certificates.context(certificates.client)) as http:
            assert [http.get(f"{url}/tls").text for _ in range(3)] == [expected] * 3
            assert http.post(f"{url}/echo", content=b"x").json() == {"echo": "x"}
        with httpx.Client(verify=certificates.context()) as http:
            assert http.get(f"{url}/tls").text == "None"  # no certificate: basic auth's case
