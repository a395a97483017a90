"""create_app(settings): the gateway as one ASGI application.

`/fs/...` goes straight to the Flow endpoints (plain ASGI, the hot path); everything else is the
FastAPI application: the management API under `/api/`, `/health`, `/metrics` and the OpenAPI docs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gateway.api import callbacks as callbacks_api
from gateway.api import executions, packages, status, user_access, users
from gateway.auth import Authenticator
from gateway.callbacks import CallbackPolicy, CallbackSender
from gateway.control import ControlPlane
from gateway.errors import GatewayError, api_problem
from gateway.flow.asgi import Receive, Scope, Send
from gateway.flow.routes import FlowEndpoints
from gateway.history import History
from gateway.history_store import HistoryStore
from gateway.history_writer import HistoryWriterProcess
from gateway.outbox import Outbox
from gateway.reconcile import Reconciler
from gateway.routing import ExecutorPool
from gateway.services import ServiceRegistry
from gateway.settings import GatewaySettings
from gateway.store import Store
from gateway.waiting import WaitingExecutions

log = logging.getLogger("flowhost.gateway")

ADMIN_FILE = "admin.json"


def admin_credentials(settings: GatewaySettings) -> tuple[str, str]:
    """The settings' admin password, else the one kept in the data folder (made on first start)."""
    if settings.admin_password:
        return settings.admin_user, settings.admin_password
    path = settings.data_dir / ADMIN_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["user"], saved["password"]
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"user": settings.admin_user, "password": password}, file)
    log.info("generated admin credentials in %s", path)
    return settings.admin_user, password


class GatewayApp:
    """Dispatches /fs/ to the Flow endpoints and the rest to FastAPI."""

    def __init__(self, api: FastAPI, flow: FlowEndpoints) -> None:
        self.api = api
        self.flow = flow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fs/"):
            await self.flow(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(settings: GatewaySettings) -> GatewayApp:
    registry = ServiceRegistry()
    authenticator = Authenticator(trusted_proxies=settings.trusted_proxies)
    pool = ExecutorPool()
    admin_user, admin_password = admin_credentials(settings)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.store_url)
        reconciler = Reconciler(
            pool,
            registry.desired,
            settings.executor_targets,
            settings.executor_dns,
            settings.discovery_interval_s,
        )
        control = ControlPlane(
            store, registry, authenticator, reconciler, settings.state_poll_interval_s
        )
        api.state.control = control
        outbox = Outbox(store.engine)
        writer = (
            HistoryWriterProcess(settings.store_url) if settings.history_writer_process else None
        )
        if writer is not None and settings.history_enabled:
            await writer.start()
        history = History(
            HistoryStore(store.engine),
            enabled=settings.history_enabled,
            flush_interval_s=settings.history_flush_interval_s,
            batch=settings.history_batch,
            queue_max=settings.history_queue_max,
            retention_days=settings.history_retention_days,
            max_rows=settings.history_max_rows,
            document_max_bytes=settings.history_document_max_bytes,
            prune_also=outbox.prune,
            sink=writer.write if writer is not None else None,
        )
        sender = CallbackSender(
            outbox,
            attempts=settings.callback_attempts,
            backoff_base_s=settings.callback_backoff_s,
            backoff_max_s=settings.callback_backoff_max_s,
            timeout_s=settings.callback_timeout_s,
            concurrency=settings.callback_concurrency,
            poll_interval_s=settings.callback_poll_interval_s,
        )
        waiting = WaitingExecutions(
            pool,
            registry,
            outbox,
            sender,
            history,
            CallbackPolicy(settings.callback_hosts),
            poll_interval_s=settings.callback_poll_interval_s,
            wait_s=settings.default_timeout_s,
        )
        api.state.outbox = outbox
        api.state.sender = sender
        api.state.history = history
        flow.history = history
        flow.waiting = waiting
        await control.start()
        history.start()
        sender.start()
        waiting.start()
        scheme = "https" if settings.tls_cert_file else "http"
        log.info("flowhost gateway ready on %s://%s:%d", scheme, settings.host, settings.port)
        try:
            yield
        finally:
            await waiting.stop()
            await sender.stop()
            await history.stop()
            if writer is not None:
                await writer.stop()
            await control.stop()
            await pool.close()
            store.close()

    api = FastAPI(
        title="flowhost gateway",
        version="0.1.0",
        summary="Management API of a flowhost cluster. Flow itself calls /fs/<service>/…",
        lifespan=lifespan,
    )
    api.state.admin_user = admin_user
    api.state.admin_password = admin_password
    for router in (
        packages.router,
        users.router,
        status.router,
        executions.router,
        callbacks_api.router,
        user_access.router,
    ):
        api.include_router(router)

    @api.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> Response:
        headers = (
            {"WWW-Authenticate": 'Basic realm="flowhost admin"'} if error.status == 401 else None
        )
        return Response(api_problem(error), error.status, headers, "application/json")

    @api.get("/health", tags=["status"], summary="Liveness of the gateway")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    flow = FlowEndpoints(
        registry,
        authenticator,
        pool,
        request_max_bytes=settings.request_max_bytes,
        wait_s=settings.default_timeout_s,
        upload_max_bytes=settings.upload_max_bytes,
    )
    return GatewayApp(api, flow)
