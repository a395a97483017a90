"""The executor's lifecycle: start, serve, drain and shut down, usable as `async with`."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import uuid
from pathlib import Path
from types import TracebackType

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from executors.execution_link import ExecutionLinkServer
from executors.host import Host
from executors.link import LinkCredentials
from executors.registration import Registrar, advertised
from executors.runtime.brokers.pool import BROKERS
from executors.runtime.egress import guarded_client
from executors.runtime.jqworkers import WORKERS
from executors.runtime.loader import YamlLimits
from executors.servicer import HEARTBEAT_S, ExecutorServicer
from executors.settings import ExecutorSettings
from executors.stats import StreamStats
from executors.tracing import execution_tracer
from protos.flowhost.v1 import executor_pb2, executor_pb2_grpc

log = logging.getLogger("flowhost.executor")

# Stream messages carry micro-batches of documents; the default 4 MB is too tight for those.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ExecutorServer:
    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.executor_id = uuid.uuid4().hex[:12]
        self.port: int = 0
        self._http: httpx.AsyncClient | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._host: Host | None = None
        self._stopped = asyncio.Event()
        self._shutting_down = False
        self._registrar: Registrar | None = None
        self._link_server: ExecutionLinkServer | None = None
        #: The execution link's port (0: off).
        self.stream_port = 0

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    async def start(self) -> None:
        s = self.settings
        link = LinkCredentials.from_settings(s)  # before anything starts: no credentials, no server
        if s.gateways:  # and no registration that cannot work
            advertised(s.gateways, s.advertise, f"{s.host}:{s.port or 1}", link.tokens)
        # Every connection the http step makes is checked against the runtime's egress policy.
        self._http = guarded_client(max_connections=s.http_max_connections, timeout_s=10.0)
        self._host = Host(
            self._http,
            s.max_concurrency,
            os.path.join(s.files_dir, s.runtime),
            YamlLimits(
                max_depth=s.package_max_depth,
                max_aliases=s.package_max_aliases,
                max_nodes=s.package_max_nodes,
            ),
        )
        self._host.tracer = execution_tracer(s.otel_enabled)
        WORKERS.configure(size=s.jq_workers, memory_mb=s.jq_worker_memory_mb)
        await WORKERS.start()
        server = grpc.aio.server(
            interceptors=[link.gate()],
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        stats = StreamStats()
        servicer = ExecutorServicer(
            self._host, s.runtime, self.executor_id, s.batch_max, link, stats
        )
        executor_pb2_grpc.add_ExecutorServicer_to_server(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (
                executor_pb2.DESCRIPTOR.services_by_name["Executor"].full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        address = f"{s.host}:{s.port}"
        credentials = link.server_credentials()
        try:
            if credentials is None:
                self.port = server.add_insecure_port(address)
            else:
                self.port = server.add_secure_port(address, credentials)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise OSError(f"cannot listen on {address}: the port is in use or not this host's")
        if s.stream_port >= 0:
            self._link_server = ExecutionLinkServer(
                self._host, stats, link, s.batch_max, HEARTBEAT_S, s.link_poll_us / 1e6
            )
            try:
                self.stream_port = await self._link_server.start(s.host, s.stream_port)
            except OSError as error:
                raise OSError(
                    f"cannot listen for the execution link on {s.host}:{s.stream_port}: "
                    f"{error.strerror} (FLOWHOST_EXECUTOR_STREAM_PORT; -1 turns it off)"
                ) from None
            # What Describe names: the port gateways reach, which a NAT may map elsewhere.
            servicer.stream_port = s.stream_advertise_port or self.stream_port
        await server.start()
        self._server = server
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("flowhost.v1.Executor", health_pb2.HealthCheckResponse.SERVING)
        if s.gateways:
            self._registrar = Registrar(
                s.gateways,
                s.runtime,
                advertised(s.gateways, s.advertise, self.address, link.tokens),
                self.executor_id,
                link.tokens,
                verify=_gateway_verify(s.gateway_ca_file),
            )
            self._registrar.start()
        # Tests and supervisors read this line to learn the address.
        log.info(
            "flowhost executor ready runtime=%s address=%s id=%s stream_port=%s",
            s.runtime,
            self.address,
            self.executor_id,
            self.stream_port or "off",
        )

    async def serve(self) -> None:
        await self._stopped.wait()

    async def shutdown(self) -> None:
        """Report NOT_SERVING, stop taking work, drain, then stop. Safe to call twice."""
        if self._shutting_down:
            return
        self._shutting_down = True
        await self._health.enter_graceful_shutdown()
        if self._host is not None:
            await self._host.drain(self.settings.drain_seconds)
        if self._registrar is not None:  # after the drain: nothing of ours is in flight now
            await self._registrar.leave()
        if self._link_server is not None:
            await self._link_server.close()
        if self._server is not None:
            await self._server.stop(grace=1.0)
        if self._http is not None:
            await self._http.aclose()
        await BROKERS.aclose()
        await WORKERS.aclose()
        log.info("flowhost executor stopped id=%s", self.executor_id)
        self._stopped.set()

    async def __aenter__(self) -> ExecutorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()


def _gateway_verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """How an https gateway's certificate is checked: the CA file given, else the system's."""
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
