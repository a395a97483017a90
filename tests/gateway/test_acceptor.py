"""gateway/http/acceptor.py: every waiting connection is accepted in one loop turn (libuv takes
one a turn), the server built on it serves and drains as uvicorn's does, and running out of file
descriptors pauses accepting instead of failing the server."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import uvicorn
import uvloop

from gateway.http import GatewayHttpProtocol
from gateway.http.acceptor import Acceptor, GatewayServer, bind


class _Counting(asyncio.Protocol):
    made = 0
    transports: list[asyncio.BaseTransport] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _Counting.made += 1
        _Counting.transports.append(transport)

    @classmethod
    def close_all(cls) -> None:
        for transport in cls.transports:
            transport.close()
        cls.transports = []


def _clients(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    """`count` connections the kernel has completed (they wait in the accept queue)."""
    return [
        stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        for _ in range(count)
    ]


def test_every_waiting_connection_is_accepted_in_one_turn() -> None:
    async def scenario() -> tuple[int, int, int]:
        listener = bind("127.0.0.1", 0, 512)
        port = listener.getsockname()[1]
        with ExitStack() as stack:
            _clients(port, 200, stack)
            _Counting.made = 0
            acceptor = Acceptor(listener, _Counting, None)
            loop = asyncio.get_running_loop()
            loop.remove_reader(listener.fileno())  # this test turns the handle itself
            accepted = acceptor.accept_waiting()
            again = acceptor.accept_waiting()  # nothing left: returns at once
            for _ in range(20):
                await asyncio.sleep(0)
            acceptor.close()
            made = _Counting.made
            _Counting.close_all()
            await asyncio.sleep(0)
            return accepted, again, made

    accepted, again, made = uvloop.run(scenario())
    assert (accepted, again) == (200, 0), "all the waiting connections in one call"
    assert made == 200


def test_out_of_file_descriptors_pauses_accepting_then_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gateway.http.acceptor.RETRY_AFTER_S", 0.2)

    async def scenario() -> tuple[int, int]:
        listener = bind("127.0.0.1", 0, 64)
        port = listener.getsockname()[1]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with ExitStack() as stack:
            _clients(port, 5, stack)
            _Counting.made = 0
            acceptor = Acceptor(listener, _Counting, None)
            in_use = len(os.listdir("/proc/self/fd"))
            # No descriptor above those in use: a free lower one or two may still be taken.
            resource.setrlimit(resource.RLIMIT_NOFILE, (in_use, hard))
            try:
                accepted_while_out = acceptor.accept_waiting()
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            await asyncio.sleep(0.5)  # past the retry delay: the reader is back
            acceptor.close()
            made = _Counting.made
            _Counting.close_all()
            await asyncio.sleep(0)
            return accepted_while_out, made

    accepted_while_out, made = uvloop.run(scenario())
    assert accepted_while_out < 5, "accepting went on past the descriptor limit"
    assert made == 5, "accepting did not resume after the retry delay"


async def _hello(scope: dict, receive: object, send: object) -> None:
    assert scope["type"] == "http"
    await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"hello"})  # type: ignore[operator]


@contextmanager
def _gateway_server() -> Iterator[tuple[GatewayServer, int]]:
    listener = bind("127.0.0.1", 0, 2048)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        _hello, http=GatewayHttpProtocol, lifespan="off", log_level="critical", loop="uvloop"
    )
    server = GatewayServer(config, [listener])
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield server, port
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "the server did not stop"


def test_the_server_answers_a_burst_of_new_connections_and_stops_listening_on_shutdown() -> None:
    with _gateway_server() as (server, port):

        async def burst() -> list[int]:
            limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
            async with httpx.AsyncClient(limits=limits, timeout=10) as client:
                answers = await asyncio.gather(
                    *(client.get(f"http://127.0.0.1:{port}/") for _ in range(300))
                )
            return [a.status_code for a in answers]

        assert asyncio.run(burst()) == [200] * 300
        server.should_exit = True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the port still accepts connections after shutdown began")
