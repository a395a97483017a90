"""HTTP limits (issue 12): a huge header, slow clients, endless keep-alive connections.

The cluster runs with short timeouts (4 s, 2 s) and a keep-alive cap of 5, so the tests stay short;
the defaults are documented in docs/operations.md, "Limits".
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import running_cluster
from tests.gateway.http_serving import read_until_closed
from tests.security.conftest import EXAMPLES, assert_serving

HEADER_TIMEOUT_S = 4.0
BODY_TIMEOUT_S = 2.0  # shorter than the head's: the connection's one timer must fire early
MAX_REQUESTS = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as env:  # read by the gateway child at start
        env.setenv("FLOWHOST_HTTP_HEADER_TIMEOUT_S", str(HEADER_TIMEOUT_S))
        env.setenv("FLOWHOST_HTTP_BODY_TIMEOUT_S", str(BODY_TIMEOUT_S))
        env.setenv("FLOWHOST_HTTP_MAX_REQUESTS_PER_CONNECTION", str(MAX_REQUESTS))
        with running_cluster(tmp_path_factory.mktemp("limits")) as running:
            running.deploy_examples(EXAMPLES)
            yield running


def connect(cluster: Cluster) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", cluster.http_port), timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def test_a_64_mb_header_is_refused_quickly_and_health_stays_fast(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    outcome: dict[str, object] = {}

    def send_huge_header() -> None:
        sock = connect(cluster)
        started = time.monotonic()
        sock.sendall(b"POST /fs/shop/actions/quote HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        chunk = b"a" * 65536
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server stopped reading
            pass
        outcome["answer"] = read_until_closed(sock)
        outcome["seconds"] = time.monotonic() - started
        outcome["sent"] = sent
        sock.close()

    health: list[float] = []
    sending = threading.Event()
    sending.set()

    def check_health() -> None:
        with httpx.Client(timeout=10) as http:
            while sending.is_set() or len(health) < 20:
                started = time.monotonic()
                assert http.get(f"{cluster.url}/health").status_code == 200
                health.append(time.monotonic() - started)

    gateway = cluster.children[-1].process
    assert gateway is not None
    rss_before = rss_kib(gateway.pid)
    checker = threading.Thread(target=check_health)
    checker.start()
    send_huge_header()
    sending.clear()
    checker.join(30)
    assert not checker.is_alive()
    answer = outcome["answer"]
    assert isinstance(answer, bytes)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code":"header_too_large"' in answer and b"32768 bytes" in answer
    assert float(outcome["seconds"]) < 5  # type: ignore[arg-type]
    assert len(health) >= 20 and max(health) < 0.5, f"slowest /health: {max(health):.3f} s"
    assert rss_kib(gateway.pid) - rss_before < 20 * 1024  # the header was never held
    assert_serving(cluster, flow_auth)


def test_30_slow_clients_are_each_closed_within_the_timeout(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    token = base64.b64encode(f"{flow_auth[0]}:{flow_auth[1]}".encode())
    head = b"POST /fs/shop/actions/quote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    slow_heads = [connect(cluster) for _ in range(15)]  # the head a byte at a time
    slow_bodies = [connect(cluster) for _ in range(15)]  # a whole head, the body a byte at a time
    for sock in slow_bodies:
        sock.sendall(head + b"Authorization: Basic " + token + b"\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()
    closed: dict[socket.socket, tuple[float, bytes]] = {}
    position = 0
    while len(closed) < 30 and time.monotonic() - started < 20:
        for sock in slow_heads + slow_bodies:
            if sock in closed:
                continue
            byte = (
                head[position % len(head) : position % len(head) + 1]
                if sock in slow_heads
                else b" "
            )
            try:
                sock.sendall(byte)
                sock.settimeout(0.001)
                answer = sock.recv(65536)
            except (BlockingIOError, TimeoutError):
                continue
            except OSError:
                answer = b""
            finally:
                sock.settimeout(15)
            closed[sock] = (time.monotonic() - started, answer + read_until_closed(sock))
        position += 1
        time.sleep(0.1)
    assert len(closed) == 30, f"{30 - len(closed)} slow clients were never closed"
    for sock in slow_heads:
        seconds, answer = closed[sock]
        assert seconds < HEADER_TIMEOUT_S + 1.5, seconds
        assert answer.startswith(b"HTTP/1.1 408 ") and b"header_timeout" in answer, answer[:200]
    for sock in slow_bodies:
        seconds, answer = closed[sock]
        assert seconds < BODY_TIMEOUT_S + 1.5, seconds
        assert answer.startswith(b"HTTP/1.1 408 ") and b"body_timeout" in answer, answer[:200]
        assert b"x-manywho-service-problem-kind: service" in answer  # a ServiceProblem on /fs/
    for sock in slow_heads + slow_bodies:
        sock.close()
    assert_serving(cluster, flow_auth)


def test_a_connection_that_sends_nothing_is_closed(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    sock = connect(cluster)
    started = time.monotonic()
    assert read_until_closed(sock) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 1.5
    sock.close()
    assert_serving(cluster, flow_auth)


def test_a_keep_alive_connection_is_closed_after_the_request_cap(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    sock = connect(cluster)
    answers = []
    for _ in range(MAX_REQUESTS):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        answers.append(answer)
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers
    assert not any(b"connection: close" in a.lower() for a in answers[:-1])
    assert b"connection: close" in answers[-1].lower()
    assert read_until_closed(sock) == b""  # the server closed it after the last answer
    sock.close()
    assert_serving(cluster, flow_auth)
