"""Accepting connections: every one waiting, each loop turn, not one per turn.

uvloop's servers accept through libuv, which since 1.45 takes one connection per loop turn
(libuv/libuv#3696: "unix: don't accept() connections in a loop") and relies on the listening
socket staying readable for the next. On a busy gateway a turn handles many requests at once,
so a burst of new connections (a load balancer or a Flow tenant opening its pool, a client
reconnecting after a restart) waited one turn each: measured at 256 connections opened at once
against a loaded gateway, the last were accepted 0.9 to 1.2 s after the first, and a third of the
runs had a p99 of 0.5 to 1.5 s where the others had 50 to 60 ms.

`Acceptor` reads the listening socket itself (`loop.add_reader`) and accepts until the kernel
has none left (at most ACCEPT_BATCH a turn), handing each socket to the loop as a transport with
the same protocol uvicorn would have made (`loop.connect_accepted_socket`). `GatewayServer` is
uvicorn's `Server` with its listeners replaced by acceptors; everything else (lifespan, signals,
graceful shutdown through the connections' `shutdown`) is uvicorn's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable

import uvicorn

log = logging.getLogger("uvicorn.error")

#: Most connections accepted in one loop turn, so a connection storm cannot hold the loop.
ACCEPT_BATCH = 512
#: After the process ran out of file descriptors or memory, how long until it accepts again
#: (asyncio's own servers wait the same).
RETRY_AFTER_S = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Acceptor:
    def __init__(
        self,
        listener: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._listener = listener
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._opening: set[asyncio.Task[object]] = set()
        self._closed = False
        listener.setblocking(False)
        self._loop.add_reader(listener.fileno(), self.accept_waiting)

    def accept_waiting(self) -> int:
        """Accept every connection the kernel holds (at most ACCEPT_BATCH); returns how many."""
        accepted = 0
        while accepted < ACCEPT_BATCH:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:  # the client gave up before we took it
                continue
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                log.error("cannot accept (%s); trying again in %gs", error, RETRY_AFTER_S)
                self._loop.remove_reader(self._listener.fileno())
                self._loop.call_later(RETRY_AFTER_S, self._resume)
                break
            accepted += 1
            connection.setblocking(False)
            if connection.family in (socket.AF_INET, socket.AF_INET6):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(
                self._loop.connect_accepted_socket(self._factory, connection, ssl=self._ssl)
            )
            self._opening.add(task)
            task.add_done_callback(self._opened)
        return accepted

    def _opened(self, task: asyncio.Task[object]) -> None:
        self._opening.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A TLS handshake that failed or timed out: that client's problem, not the server's.
            log.debug("a connection failed to open: %s", task.exception())

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._listener.fileno(), self.accept_waiting)

    def close(self) -> None:
        """Stop accepting and close the listening socket."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()


class GatewayServer(uvicorn.Server):
    """uvicorn's server, listening through `Acceptor`s on sockets bound beforehand."""

    def __init__(self, config: uvicorn.Config, listeners: list[socket.socket]) -> None:
        super().__init__(config)
        self._listeners = listeners
        self._acceptors: list[Acceptor] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the lifespan, and no listener of uvicorn's own
        config = self.config
        state, app_state = self.server_state, self.lifespan.state

        def factory() -> asyncio.Protocol:  # what uvicorn's own startup makes
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state=app_state
            )

        self._acceptors = [Acceptor(s, factory, config.ssl) for s in self._listeners]
        scheme = "https" if config.ssl else "http"
        for listener in self._listeners:
            address = listener.getsockname()
            where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else address
            log.info("gateway listening on %s://%s", scheme, where)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for acceptor in self._acceptors:  # stop accepting before the connections drain
            acceptor.close()
        await super().shutdown(sockets=None)


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv4 or IPv6, as the host says), SO_REUSEADDR."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family, backlog=backlog)
