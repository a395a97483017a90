"""What every management API mutation must bring, checked before any endpoint runs.

A browser sends a cross-site HTML form with the user's cookies and cached credentials, but only
with `text/plain`, form-encoded or multipart bodies and without custom headers (those need a CORS
preflight, which the gateway never grants). So every `POST`, `PUT`, `PATCH` and `DELETE` under
`/api/`:

- carries `X-Flowhost-Client` (any non-empty value; the CLI sends `cli`), else 403
  `client_header_required`;
- sends its body with one of the content types its endpoint documents (JSON, or
  `application/yaml` for a package), else 415 `unsupported_media_type`; an endpoint that takes
  no body takes none;
- sends at most `PACKAGE_MAX_BYTES` (the largest body the API takes is a package), else 413,
  before more than that is read.

`ApiGuard` (ASGI middleware) checks the header and the size before anything reads the body;
`content_type` (a dependency of the whole application) checks the type once the route is known.
Both apply to every route, so a router added later is guarded with no code of its own;
`document` adds the header and these answers to the OpenAPI description. The documented types
are the body parameter's (`Body(media_type=...)`, JSON by default); an endpoint that reads its
body itself (from `Request`) declares them the way OpenAPI wants anyway:
`openapi_extra={"requestBody": {"content": {"text/csv": {...}}}}`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway.errors import GatewayError, PayloadTooLarge, api_problem
from gateway.flow import openapi as flow_openapi
from gateway.flow.asgi import Receive, Scope, Send, replay_body
from gateway.settings import GatewaySettings
from gateway.triggers import webhook_openapi

__all__ = ["CLIENT_HEADER", "MUTATIONS", "ApiGuard", "content_type", "document"]

CLIENT_HEADER = "X-Flowhost-Client"
MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLIENT_HEADER = CLIENT_HEADER.lower().encode()


def _media_types(route: APIRoute) -> frozenset[str]:
    """The content types an endpoint documents for its body; empty: it takes none."""
    extra = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if extra:
        return frozenset(str(t).lower() for t in extra)
    if route.body_field is not None:
        media_type = getattr(route.body_field.field_info, "media_type", None)
        return frozenset({str(media_type or "application/json").lower()})
    return frozenset()


class ApiGuard:
    """ASGI middleware: the client header, and the body bound, before anything reads a body."""

    def __init__(self, app: Any, settings: GatewaySettings) -> None:
        self.app = app
        self.limit = settings.package_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATIONS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        try:
            headers = dict(scope["headers"])
            _check_client(headers)
            body = await self._read(headers, receive)
        except GatewayError as error:
            await _answer(send, error)
            return
        await self.app(scope, replay_body(body, receive), send)

    async def _read(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        """The whole body, or PayloadTooLarge as soon as it passes the bound."""
        limit = self.limit

        def too_large(size: str) -> PayloadTooLarge:
            return PayloadTooLarge(
                f"the body is {size} bytes, over the limit of {limit} (FLOWHOST_PACKAGE_MAX_BYTES: "
                "the largest body the management API reads is a package)",
                code="package_too_large",
                details={
                    "limit": "package_max_bytes",
                    "value": limit,
                    "setting": "FLOWHOST_PACKAGE_MAX_BYTES",
                },
            )

        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise too_large(declared.strip().decode())
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(f"more than {limit}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _check_client(headers: dict[bytes, bytes]) -> None:
    if not headers.get(_CLIENT_HEADER, b"").strip():
        raise GatewayError(
            f"a management API change needs the {CLIENT_HEADER} header (any value; the CLI "
            "sends 'cli'), which a cross-site form cannot send",
            status=403,
            code="client_header_required",
        )


def content_type(request: Request) -> None:
    """An application-wide dependency: a mutation's body has a type its endpoint documents.

    It runs once the route is known (FastAPI has buffered the body, which `ApiGuard` bounded)
    and before the endpoint's own dependencies, credentials included.
    """
    route = request.scope.get("route")
    if request.method not in MUTATIONS or not isinstance(route, APIRoute):
        return
    allowed = _media_types(route)
    raw = request.headers.get("content-type", "")
    media_type = raw.split(";", 1)[0].strip().lower()
    if not allowed:
        if media_type or request.headers.get("content-length", "0").strip() not in ("0", ""):
            raise GatewayError(
                "this endpoint takes no body", status=415, code="unsupported_media_type"
            )
        return
    if media_type not in allowed:
        expected = " or ".join(sorted(allowed))
        got = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
        raise GatewayError(
            f"the body must be sent as {expected}, not {got}",
            status=415,
            code="unsupported_media_type",
            details={"accepted": sorted(allowed)},
        )


async def _answer(send: Send, error: GatewayError) -> None:
    body = api_problem(error)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- the OpenAPI description ----------------------------------------------------------------------

PROBLEM = {
    "title": "Problem",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable, machine-readable code"},
        "message": {"type": "string", "description": "What was wrong, naming any limit"},
        "details": {"type": "object"},
    },
}
_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _REF}}, **extra}


_EVERY = {
    "401": _problem("Missing or wrong admin credentials"),
    "422": _problem("A parameter or the body is invalid"),
    "429": _problem(
        "Too many failed logins from this address",
        headers={"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}},
    ),
}
_MUTATION = {
    "400": _problem("The body could not be read as its content type (not UTF-8, say)"),
    "403": _problem(f"The {CLIENT_HEADER} header is missing"),
    "413": _problem("The body is over its limit"),
    "415": _problem("The body's content type is not the documented one"),
}


def document(api: FastAPI) -> None:
    """Describe the guards (and the problem body of every refusal) in the API's OpenAPI."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = get_openapi(
            title=api.title,
            version=api.version,
            summary=api.summary,
            routes=api.routes,
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if status >= "400" and "content" not in response:
                        response["content"] = {"application/json": {"schema": _REF}}
                for status, response in _EVERY.items():
                    responses[status] = response
                if method.upper() in MUTATIONS:
                    responses.update(_MUTATION)
                    operation.setdefault("parameters", []).append(
                        {
                            "name": CLIENT_HEADER,
                            "in": "header",
                            "required": True,
                            "description": "Any value (the CLI sends `cli`): proves the "
                            "request is not a cross-site form",
                            "schema": {"type": "string", "minLength": 1, "pattern": "^[!-~]+$"},
                        }
                    )
        flow_openapi.add_to(schema)  # the /fs/ endpoints are plain ASGI: described by hand
        webhook_openapi.add_to(schema)  # so is /hooks/
        api.openapi_schema = orjson.loads(orjson.dumps(schema))
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
