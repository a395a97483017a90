"""The console as one Starlette application, mounted at /console of the gateway's FastAPI app.

A separate application, not more FastAPI routes: its answers are HTML pages (errors too), its
POSTs are forms guarded by CSRF tokens instead of the management API's `X-Flowhost-Client`
header, and it stays out of the API's OpenAPI description. The API's guard is untouched: it
applies under /api/ only, and the console never calls /api/ (it calls the same functions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.console import actions, pages, signin
from gateway.console.backend import Backend
from gateway.console.gate import PREFIX, Console
from gateway.console.headers import BodyBound, SecurityHeaders
from gateway.console.render import render
from gateway.errors import GatewayError
from gateway.settings import GatewaySettings

__all__ = ["console_app", "mount_console"]

log = logging.getLogger("flowhost.gateway")

STATIC = Path(__file__).parent / "static"
#: Room for a form's other fields and multipart framing around the largest upload (a package).
_FORM_OVERHEAD = 64 * 1024


def console_app(settings: GatewaySettings, backend_of: Callable[[], Backend]) -> Starlette:
    form_max = settings.package_max_bytes + _FORM_OVERHEAD
    routes = [
        Route("/", pages.runtimes),
        Route("/signin", signin.signin_form, methods=["GET"]),
        Route("/signin", signin.signin_submit, methods=["POST"]),
        Route("/signout", signin.signout, methods=["POST"]),
        Route("/fragments/runtimes", pages.runtimes_fragment),
        Route("/services", pages.services),
        Route("/services/pause", actions.pause_listener, methods=["POST"]),
        Route("/services/resume", actions.resume_listener, methods=["POST"]),
        Route("/deployments", pages.deployments, methods=["GET"]),
        Route("/deployments", actions.deploy, methods=["POST"]),
        Route("/deployments/rollback", actions.rollback, methods=["POST"]),
        Route("/executions", pages.executions),
        Route("/executions/{execution_id}", pages.execution),
        Route("/callbacks", pages.callbacks),
        Route("/callbacks/redeliver", actions.redeliver, methods=["POST"]),
        Route("/users", pages.users, methods=["GET"]),
        Route("/users", actions.add_user, methods=["POST"]),
        Route("/users/rotate", actions.rotate_user, methods=["POST"]),
        Route("/users/remove", actions.remove_user, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def gateway_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, GatewayError)
        return _error_page(request, error.status, error.message, error.headers)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        messages = {404: "There is no such page.", 405: "That page does not take this method."}
        text = messages.get(error.status_code, str(error.detail))
        return _error_page(request, error.status_code, text, dict(error.headers or {}))

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyBound, limit=form_max),
        ],
        exception_handlers={GatewayError: gateway_error, HTTPException: http_error},
    )
    app.state.console = Console(settings, backend_of, form_max)
    return app


def _error_page(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    return render(
        request,
        "error.html",
        None,
        status=status,
        headers=headers,
        status_code=status,
        message=message,
    )


def mount_console(
    api: FastAPI, settings: GatewaySettings, backend_of: Callable[[], Backend]
) -> None:
    """Serve the console at /console, and send / there."""
    api.mount(PREFIX, console_app(settings, backend_of))

    @api.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)
