"""ASGI middleware around the console: security headers on every answer, and a bound on bodies.

- `Content-Security-Policy` allows the gateway's own scripts and styles only (no inline script,
  no `eval`: htmx is configured not to use it) and no framing; `X-Frame-Options: DENY` says the
  same to older browsers. Pages are `no-store` (they show tokens, traces and documents);
  the vendored static files may be cached.
- A console POST is at most `limit` bytes (the largest form is a package upload): beyond it the
  answer is 413 before more is read.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import BadRequest, PayloadTooLarge
from gateway.flow.asgi import Message, Receive, Scope, Send, read_body, replay_body

__all__ = ["CSP", "BodyBound", "SecurityHeaders"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_COMMON = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() != b"cache-control"
                ]
                headers.extend(_COMMON)
                if not static:
                    headers.append(_NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyBound:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        try:
            body = await read_body(receive, self.limit)
        except PayloadTooLarge:
            await self._refuse(send)
            return
        except BadRequest:
            return  # the browser went away before its form was complete: nothing to answer
        await self.app(scope, replay_body(body, receive), send)

    async def _refuse(self, send: Send) -> None:
        body = (
            "<!doctype html><title>Too large</title><p>The form is larger than "
            f"{self.limit} bytes, the console's limit (FLOWHOST_PACKAGE_MAX_BYTES and room for "
            "the form around it).</p>"
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
