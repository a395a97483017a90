"""Shared by the broker tests: is a local broker there, a package around broker steps, and a
TCP proxy the test can cut."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def unique(prefix: str) -> str:
    """A destination no other test (or parallel worker) uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 port 0 to ``port``; ``cut()`` drops every connection through it
    (new ones are still accepted), as a broker restart or a network blip would. ``away()``
    also stops listening (connections are refused: a broker that is down) until ``back()``
    listens on the same port again."""

    def __init__(self, port: int):
        self._target = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.port = 0

    async def __aenter__(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    async def away(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self.cut()

    async def back(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    def cut(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


CONFIG = """
service:
  path: t
  configuration:
    - {name: bus, type: password}
    - {name: prefix}
    - {name: suffix}
"""


def broker_package(steps: str) -> str:
    """A package with the broker configuration and one process `p` with ``steps``."""
    indented = "\n".join(f"      {line}" for line in steps.strip("\n").splitlines())
    return f"name: t\nversion: '1'\n{CONFIG.strip()}\nprocesses:\n  p:\n    steps:\n{indented}\n"
