"""``http``: one request per document through the executor's shared, pooled client.

The response becomes the document: parsed as JSON when the response says it is JSON, else the
body as a JSON string (null when empty). Properties ``http_status`` and ``http_content_type`` are
set. A non-2xx status fails the step; 5xx, timeouts and connection errors are retried first.

Every connection goes through the runtime's egress policy (egress.py): a destination it does not
allow fails the step with ``egress_refused`` before anything is sent, and is not retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..egress import EgressRefused
from ..errors import StepError
from ..expressions import JqProgram
from ..limits import limit_exceeded
from .set import as_property

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
NO_DEFAULT_BODY = ("GET", "HEAD")
BODY_SNIPPET = 200


class Http:
    __slots__ = ("backoff_s", "body", "headers", "method", "query", "retries", "timeout_s", "url")

    def __init__(
        self,
        method: str,
        url: JqProgram,
        headers: list[tuple[str, JqProgram]],
        query: list[tuple[str, JqProgram]],
        body: JqProgram | None,
        timeout_s: float,
        retries: int,
        backoff_s: float,
    ):
        self.method = method
        self.url = url
        self.headers = headers
        self.query = query
        self.body = body
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        return [await self.request(document, ctx) for document in documents]

    async def build(self, document: Document, ctx: RunContext) -> httpx.Request:
        url = await self.url.first(document, ctx)
        if not isinstance(url, str):
            raise StepError(f"url must be a string, got {orjson.dumps(url).decode()}")
        headers = {}
        for name, program in self.headers:
            value = as_property(await program.first(document, ctx))
            if value is not None:
                headers[name] = value
        params: list[tuple[str, str | int | float | bool | None]] = []
        for name, program in self.query:
            value = await program.first(document, ctx)
            for item in value if isinstance(value, list) else [value]:
                text = as_property(item)
                if text is not None:
                    params.append((name, text))
        content: bytes | None = None
        if self.body is not None:
            body = await self.body.first(document, ctx)
            if isinstance(body, str):
                content = body.encode()
                headers.setdefault("content-type", "text/plain; charset=utf-8")
            else:
                content = orjson.dumps(body)
                headers.setdefault("content-type", "application/json")
        elif self.method not in NO_DEFAULT_BODY:
            content = document.raw
            headers.setdefault("content-type", "application/json")
        try:
            return ctx.http.build_request(
                self.method,
                url,
                headers=headers,
                params=params or None,
                content=content,
                timeout=self.timeout_s,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
            raise StepError(f"{self.method} {url}: invalid request: {error}") from error

    async def request(self, document: Document, ctx: RunContext) -> Document:
        request = await self.build(document, ctx)
        # Never the query string or userinfo: either may carry a secret.
        where = f"{self.method} {request.url.copy_with(query=None, username=None, password=None)}"
        attempt = 0
        limit = ctx.policy.limits.document_bytes
        while True:
            try:
                # Streamed: the body is read only up to the document limit, never past it.
                response = await ctx.http.send(request, stream=True)
                try:
                    body = await _bounded_body(response, limit, where)
                finally:
                    await response.aclose()
            except EgressRefused as refused:
                raise StepError(
                    f"{where} refused by the runtime's egress policy: {refused}",
                    code="egress_refused",
                ) from None
            except httpx.TransportError as error:  # timeouts, refused connections, resets
                cause = f"{where} failed: {type(error).__name__}{(error and f': {error}') or ''}"
                if attempt < self.retries:
                    attempt = await self._backoff(attempt)
                    continue
                raise StepError(
                    _tries(cause, attempt), code="http_error", retryable=True
                ) from error
            if response.status_code >= 500 and attempt < self.retries:
                attempt = await self._backoff(attempt)
                continue
            break
        if not response.is_success:
            snippet = body[:BODY_SNIPPET].decode(response.encoding or "utf-8", errors="replace")
            cause = f"{where} returned {response.status_code} {response.reason_phrase}"
            cause = _tries(cause, attempt) + (f": {snippet}" if snippet else "")
            raise StepError(cause, code="http_error", retryable=response.status_code >= 500)
        return _response_document(response, body, document)

    async def _backoff(self, attempt: int) -> int:
        await asyncio.sleep(self.backoff_s * (2**attempt))
        return attempt + 1


def _tries(cause: str, retries: int) -> str:
    return f"{cause} (after {retries + 1} attempts)" if retries else cause


async def _bounded_body(response: httpx.Response, limit: int, where: str) -> bytes:
    """The response body, refused (limit_exceeded) as soon as it passes ``limit`` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise limit_exceeded(
            "document_bytes", limit, f"{where} answered {int(declared):,} bytes, more"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise limit_exceeded("document_bytes", limit, f"the answer of {where} is larger")
        chunks.append(chunk)
    return b"".join(chunks)


def _response_document(response: httpx.Response, body: bytes, original: Document) -> Document:
    content_type = response.headers.get("content-type", "")
    properties = dict(original.properties)
    properties["http_status"] = str(response.status_code)
    properties["http_content_type"] = content_type
    media = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return Document.from_bytes(b"null", properties)
    if media == "application/json" or media.endswith("+json"):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise StepError(f"response claims JSON but does not parse: {error}") from None
        return Document(body, value, properties)
    return Document.from_value(
        body.decode(response.encoding or "utf-8", errors="replace"), properties
    )


def _programs(raw: Any, ctx: CompileContext, key: str) -> list[tuple[str, JqProgram]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        ctx.issue("expected a mapping of names to jq programs", key)
        return []
    return [(str(name), ctx.jq(text, f"{key}.{name}")) for name, text in raw.items()]


def compile_http(config: Any, ctx: CompileContext) -> Http:
    options = ctx.options(
        config,
        required=("url",),
        optional=("method", "headers", "query", "body", "timeout", "retries", "retry_backoff"),
    )
    method = options.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        ctx.issue(f"expected one of {', '.join(METHODS)}, got {method!r}", "method")
        method = "GET"
    return Http(
        method=method.upper(),
        url=ctx.jq(options.get("url", "."), "url"),
        headers=_programs(options.get("headers"), ctx, "headers"),
        query=_programs(options.get("query"), ctx, "query"),
        body=ctx.jq(options["body"], "body") if "body" in options else None,
        timeout_s=ctx.duration(options.get("timeout"), "timeout", 10.0),
        retries=ctx.integer(options.get("retries"), "retries", 2),
        backoff_s=ctx.duration(options.get("retry_backoff"), "retry_backoff", 0.2),
    )


step_type = StepTypeDef("http", compile_http)
