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

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from gateway.api import callbacks as callbacks_api
from gateway.api import config as config_api
from gateway.api import executions, packages, status, user_access, users
from gateway.api import policy as policy_api
from gateway.api.docs import install_admin_docs
from gateway.api.guard import ApiGuard, content_type, document
from gateway.auth import Authenticator
from gateway.callbacks.outbox import Outbox
from gateway.callbacks.policy import CallbackPolicy
from gateway.callbacks.sender import CallbackSender
from gateway.callbacks.waiting import WaitingExecutions
from gateway.configuration.keys import load_keys
from gateway.configuration.store import ConfigStore
from gateway.configuration.values import OperatorConfig
from gateway.control import ControlPlane
from gateway.errors import GatewayError, api_problem, http_error, validation_error
from gateway.flow.asgi import Receive, Scope, Send
from gateway.flow.routes import FlowEndpoints
from gateway.history.record import History
from gateway.history.store import HistoryStore
from gateway.history.writer import HistoryWriterProcess
from gateway.link import ClusterLink
from gateway.login_throttle import LoginThrottle
from gateway.package_limits import PackageLimits
from gateway.policy import RuntimePolicies
from gateway.reconcile import Reconciler
from gateway.routing import ExecutorPool
from gateway.services import ServiceRegistry
from gateway.settings import GatewaySettings
from gateway.store import Store

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
    operator_config = OperatorConfig()
    policies = RuntimePolicies(settings.loopback_runtimes)
    link = ClusterLink.from_settings(settings)  # no cluster credentials: no gateway
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
            link,
            policy=policies.of,
        )
        config_store = ConfigStore(store, load_keys(settings), settings.config_value_max_bytes)
        control = ControlPlane(
            store,
            registry,
            authenticator,
            reconciler,
            settings.state_poll_interval_s,
            config_store,
            operator_config,
            policies=policies,
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
            policy=policies.of,
        )
        waiting = WaitingExecutions(
            pool,
            registry,
            outbox,
            sender,
            history,
            CallbackPolicy(
                settings.callback_hosts, policies.of, uri_max_chars=settings.callback_uri_max_chars
            ),
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

    public_docs = settings.api_docs == "public"
    api = FastAPI(
        title="flowhost gateway",
        version="0.1.0",
        summary="Management API of a flowhost cluster. Flow itself calls /fs/<service>/…",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
        dependencies=[Depends(content_type)],  # every route, routers included later too
    )
    api.state.admin_user = admin_user
    api.state.admin_password = admin_password
    api.state.login_throttle = LoginThrottle(
        free=settings.login_failures_free,
        lockout_s=settings.login_lockout_s,
        lockout_max_s=settings.login_lockout_max_s,
        max_addresses=settings.login_throttle_addresses,
    )
    api.state.package_limits = PackageLimits.from_settings(settings)
    for router in (
        packages.router,
        users.router,
        status.router,
        executions.router,
        callbacks_api.router,
        config_api.router,
        policy_api.router,
        user_access.router,
    ):
        api.include_router(router)
    if settings.api_docs == "admin":
        install_admin_docs(api)
    document(api)
    api.add_middleware(ApiGuard, settings=settings)

    # Every answer of the management application is a JSON problem: its own errors, FastAPI's
    # validation errors, unknown paths, and (logged) anything unexpected.
    @api.exception_handler(GatewayError)
    async def gateway_error(request: Request, error: GatewayError) -> Response:
        headers = getattr(error, "headers", None)  # a subclass may skip GatewayError.__init__
        return Response(api_problem(error), error.status, headers, "application/json")

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        return await gateway_error(request, validation_error(error.errors()))

    @api.exception_handler(HTTPException)
    async def http_exception(request: Request, error: HTTPException) -> Response:
        return await gateway_error(request, http_error(error.status_code, str(error.detail)))

    @api.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("%s %s failed: %r", request.method, request.url.path, error)
        return await gateway_error(request, GatewayError("internal error; see the gateway log"))

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
        operator_config=operator_config,
        upload_name_max_bytes=settings.upload_file_name_max_bytes,
    )
    return GatewayApp(api, flow)
