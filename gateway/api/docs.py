"""The API's own documentation: /docs, /redoc and /openapi.json, public, admin-only or off.

`API_DOCS=admin` (the default) serves them only to the admin, so the network does not learn the
API's shape or version without the password. Only these paths answer a missing login with a
`WWW-Authenticate` challenge, so a browser can ask for it; the management API itself never does.

Swagger UI's and ReDoc's scripts and styles come from the gateway itself (`/docs/assets/`,
shipped by the fastapi-offline package), never from a CDN: the docs render on a machine without
internet. The assets are the same for everyone and say nothing about this API, so they need no
login. Swagger UI's validator badge (which would call validator.swagger.io) and ReDoc's Google
fonts are off for the same reason, and the pages' Content-Security-Policy lets the browser load
nothing from anywhere but the gateway (ReDoc's sidebar would fetch Redocly's logo from its CDN).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from gateway.api.deps import require_admin
from gateway.errors import Unauthorized

OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
# Inline: the pages' one boot script and ReDoc's style; blob: ReDoc's search worker.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; form-action 'self'"
)
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="flowhost API docs"'}


def _admin(request: Request) -> None:
    try:
        require_admin(request, "API docs")
    except Unauthorized as error:
        error.headers = {**error.headers, **_CHALLENGE}
        raise


def install_docs(api: FastAPI, admin_only: bool) -> None:
    """Serve the docs and their assets (FastAPI's own docs routes, which use a CDN, are off)."""

    def check(request: Request) -> None:
        if admin_only:
            _admin(request)

    api.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @api.get(OPENAPI_URL, include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        check(request)
        return JSONResponse(api.openapi())

    @api.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        check(request)
        page = get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{api.title} - docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = _CSP
        return page

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        check(request)
        page = get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{api.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = _CSP
        return page
