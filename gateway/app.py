"""create_app(settings): the gateway as one ASGI application.

`/fs/...` goes straight to the Flow endpoints (plain ASGI, the hot path); everything else is the
FastAPI application: the management API under `/api/`, `/health`, `/metrics` and the OpenAPI docs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from gateway.api import callbacks as callbacks_api
from gateway.api import config as config_api
from gateway.api import (
    deployments,
    executions,
    listeners,
    packages,
    status,
    triggers,
    user_access,
    users,
)
from gateway.api import policy as policy_api
from gateway.api import registrations as registrations_api
from gateway.api import runtimes as runtimes_api
from gateway.api.deps import ManagementApi
from gateway.api.docs import install_docs
from gateway.api.guard import ApiGuard, content_type, document
from gateway.console import mount_console
from gateway.errors import GatewayError, api_problem, http_error, validation_error
from gateway.flow.asgi import Receive, Scope, Send
from gateway.flow.routes import not_running
from gateway.link import ClusterLink
from gateway.metrics import endpoint as metrics_endpoint
from gateway.running import Gateway, open_gateway
from gateway.settings import GatewaySettings
from gateway.triggers.webhooks import not_running as hooks_not_running

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
    """Dispatches /fs/ to the Flow endpoints and the rest to FastAPI.

    The Flow endpoints are those of the running gateway, handed over once by `serve` (no
    per-request lookup on the hot path); until then, and after the stop, /fs/ answers 503.
    """

    def __init__(self, api: ManagementApi) -> None:
        self.api = api
        self.flow: Callable[[Scope, Receive, Send], Awaitable[None]] = not_running
        self.hooks: Callable[[Scope, Receive, Send], Awaitable[None]] = hooks_not_running

    def serve(self, gateway: Gateway | None) -> None:
        """Serve with the running gateway's parts (None: they are stopped)."""
        self.api.gateway = gateway
        self.flow = gateway.flow if gateway is not None else not_running
        self.hooks = gateway.hooks if gateway is not None else hooks_not_running

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fs/"):
            await self.flow(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/hooks/"):
            await self.hooks(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_app(settings: GatewaySettings) -> GatewayApp:
    link = ClusterLink.from_settings(settings)  # no cluster credentials: no gateway
    admin = admin_credentials(settings)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(settings, link, admin) as gateway:
            app.serve(gateway)
            scheme = "https" if settings.tls_cert_file else "http"
            log.info("flowhost gateway ready on %s://%s:%d", scheme, settings.host, settings.port)
            try:
                yield
            finally:
                app.serve(None)

    api = ManagementApi(
        title="flowhost gateway",
        version="0.1.0",
        summary="Management API of a flowhost cluster. Flow itself calls /fs/<service>/…",
        lifespan=lifespan,
        docs_url=None,  # gateway/api/docs.py serves them, with assets of its own
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(content_type)],  # every route, routers included later too
    )
    for router in (
        packages.router,
        deployments.router,
        users.router,
        status.router,
        executions.router,
        callbacks_api.router,
        config_api.router,
        policy_api.router,
        user_access.router,
        runtimes_api.router,
        registrations_api.router,
        listeners.router,
        triggers.router,
        metrics_endpoint.router,
    ):
        api.include_router(router)
    if settings.api_docs != "off":
        install_docs(api, admin_only=settings.api_docs == "admin")
    mount_console(api, settings, api.running_gateway)
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

    app = GatewayApp(api)
    return app
