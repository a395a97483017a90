"""The API's own documentation: /docs, /redoc and /openapi.json, public, admin-only or off.

`API_DOCS=admin` (the default) serves them only to the admin, so the network does not learn the
API's shape or version without the password. Only these paths answer a missing login with a
`WWW-Authenticate` challenge, so a browser can ask for it; the management API itself never does.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.api.deps import require_admin
from gateway.errors import Unauthorized

OPENAPI_URL = "/openapi.json"
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="flowhost API docs"'}


def _admin(request: Request) -> None:
    try:
        require_admin(request, "API docs")
    except Unauthorized as error:
        error.headers = {**error.headers, **_CHALLENGE}
        raise


def install_admin_docs(api: FastAPI) -> None:
    """Serve the docs behind the admin login (FastAPI's own docs routes are off)."""

    @api.get(OPENAPI_URL, include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        _admin(request)
        return JSONResponse(api.openapi())

    @api.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        _admin(request)
        return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{api.title} - docs")

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        _admin(request)
        return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{api.title} - ReDoc")
