"""The http step's egress check: address rules, and connections through the guarded client."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from executors.runtime import egress
from executors.runtime.egress import EgressRefused, guarded_client, refusal
from executors.runtime.policy import RuntimePolicy
from executors.testing import run_process

from .helpers import process

DEFAULT = RuntimePolicy()
LOOPBACK = RuntimePolicy(allow_loopback=True)
EVERYTHING = RuntimePolicy(allow_loopback=True, allow_private=True)


def check(policy: RuntimePolicy, address: str, host: str | None = None) -> str | None:
    return refusal(policy, host or address, ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # cloud metadata
        "169.254.0.1",
        "fe80::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
    ],
)
def test_link_local_and_special_addresses_are_always_refused(address: str) -> None:
    assert "always refused" in (check(EVERYTHING, address) or "")
    listed = RuntimePolicy(egress_allow=("0.0.0.0/0", "::/0"), allow_loopback=True)
    assert "always refused" in (check(listed, address) or "")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_needs_the_runtime_to_allow_it(address: str) -> None:
    assert "loopback" in (check(DEFAULT, address) or "")
    assert check(LOOPBACK, address) is None


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd12::1", "::ffff:10.0.0.1"],
)
def test_private_addresses_need_the_runtime_to_allow_them(address: str) -> None:
    assert "private" in (check(DEFAULT, address) or "")
    assert check(LOOPBACK, address) is not None
    assert check(RuntimePolicy(allow_private=True), address) is None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_public_addresses_pass_by_default(address: str) -> None:
    assert check(DEFAULT, address) is None


def test_an_allow_list_admits_listed_names_domains_and_networks() -> None:
    policy = RuntimePolicy(egress_allow=("api.example.com", "*.flow.example", "10.5.0.0/16"))
    public = "93.184.215.14"
    assert check(policy, public, "api.example.com") is None
    assert check(policy, public, "API.Example.com.") is None
    assert check(policy, public, "eu.flow.example") is None
    assert check(policy, public, "a.b.flow.example") is None
    assert "allow-list" in (check(policy, public, "flow.example") or "")  # the domain itself
    assert "allow-list" in (check(policy, public, "other.example.com") or "")
    assert "allow-list" in (check(policy, public, "api.example.com.evil.example") or "")
    assert check(policy, "10.5.1.2", "internal.host") is None  # a listed network widens
    assert "allow-list" in (check(policy, "10.6.1.2", "internal.host") or "")
    # A listed name does not widen to private or loopback addresses it resolves to.
    assert "private" in (check(policy, "10.6.1.2", "api.example.com") or "")
    assert "loopback" in (check(policy, "127.0.0.1", "api.example.com") or "")


# -- through the guarded client: what really gets connected ------------------------------------


class Server:
    def __init__(self) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep connections alive, as real servers do

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("location", self.path.split("to=", 1)[1])
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.http.shutdown()
    running.http.server_close()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "127.1", "0x7f.0.0.1"]
)
async def test_every_spelling_of_loopback_is_refused_before_connecting(
    server: Server, host: str
) -> None:
    async with guarded_client(lambda: DEFAULT) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            await client.get(f"http://{host}:{server.port}/x")
    assert server.requests == []
    async with guarded_client(lambda: LOOPBACK) as client:
        assert (await client.get(f"http://{host}:{server.port}/x")).status_code == 200
    assert server.requests == ["/x"]


async def test_every_redirect_hop_is_checked(server: Server) -> None:
    policy = RuntimePolicy(egress_allow=("127.0.0.1/32",))
    target = f"http://127.0.0.2:{server.port}/inner"
    async with guarded_client(lambda: policy) as client:
        with pytest.raises(EgressRefused, match=r"127\.0\.0\.2 is not in"):
            await client.get(
                f"http://127.0.0.1:{server.port}/redirect?to={target}", follow_redirects=True
            )
    assert server.requests == [f"/redirect?to={target}"]


async def test_unix_sockets_and_environment_proxies_are_not_used(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    async with guarded_client(lambda: DEFAULT) as client:
        with pytest.raises(EgressRefused):
            await client.get(f"http://127.0.0.1:{server.port}/direct")
    assert server.requests == []
    with pytest.raises(EgressRefused, match="unix"):
        await egress.GuardedBackend(lambda: LOOPBACK).connect_unix_socket("/run/docker.sock")


async def test_the_http_step_fails_with_egress_refused_and_does_not_retry(server: Server) -> None:
    source = process(f"- http: {{url: '\"http://localhost:{server.port}/x\"', retries: 3}}")
    result = await run_process(source, "p")  # no policy: the defaults
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "egress_refused" and not result.error.retryable
    assert "localhost (127.0.0.1) is loopback" in result.error.message
    assert server.requests == []
    allowed = await run_process(source, "p", policy=LOOPBACK)
    assert allowed.status == "ok", allowed.error


async def test_the_step_message_shows_no_query_string_or_userinfo(server: Server) -> None:
    url = f"http://user:pw-secret@127.0.0.1:{closed_port()}/x?token=q-secret"
    result = await run_process(process(f"- http: {{url: '\"{url}\"', retries: 0}}"), "p")
    assert result.error is not None
    assert "secret" not in result.error.message


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_shared_client_is_an_httpx_client() -> None:
    assert isinstance(guarded_client(), httpx.AsyncClient)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only `localhost`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    running = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    running.http.socket = context.wrap_socket(running.http.socket, server_side=True)
    yield running.port, cert
    running.http.shutdown()
    running.http.server_close()


async def test_tls_verifies_the_url_host_name_on_the_checked_address(
    tls_server: tuple[int, Path],
) -> None:
    """The connection goes to the address the check resolved (127.0.0.1), and TLS still checks
    the certificate against the URL's name: `localhost` passes, the bare IP does not."""
    port, cert = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    async with guarded_client(lambda: LOOPBACK, ssl_context=trust) as client:
        assert (await client.get(f"https://localhost:{port}/x")).status_code == 200
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
            await client.get(f"https://127.0.0.1:{port}/x")
    async with guarded_client(lambda: DEFAULT, ssl_context=trust) as client:
        with pytest.raises(EgressRefused):
            await client.get(f"https://localhost:{port}/x")


async def test_a_pooled_connection_is_not_reused_under_a_stricter_policy(server: Server) -> None:
    """Kept-alive connections were checked under the policy that opened them: a change holds
    for the very next request."""
    current = [LOOPBACK]
    async with guarded_client(lambda: current[0]) as client:
        assert (await client.get(f"http://127.0.0.1:{server.port}/one")).status_code == 200
        current[0] = DEFAULT
        with pytest.raises(EgressRefused):
            await client.get(f"http://127.0.0.1:{server.port}/two")
        current[0] = LOOPBACK
        assert (await client.get(f"http://127.0.0.1:{server.port}/three")).status_code == 200
    assert server.requests == ["/one", "/three"]
