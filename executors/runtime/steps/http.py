"""``http``: one request per document through the executor's shared, pooled client.

The response becomes the document: parsed as JSON when the response says it is JSON, else the
body as a JSON string (null when empty). Properties ``http_status`` and ``http_content_type`` are
set. A non-2xx status fails the step; 5xx, 429, timeouts and connection errors are retried first,
for idempotent methods only unless the step sets ``retry_unsafe`` (a retried POST whose first
attempt reached the server runs its side effect twice), waiting as long as ``Retry-After`` asks
when that still ends before the execution's deadline.

Every connection goes through the runtime's egress policy (egress.py): a destination it does not
allow fails the step with ``egress_refused`` before anything is sent, and is not retried.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import uuid
from typing import Any

import httpx
import orjson

from ..answers import Answers
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
#: Methods whose repetition has the effect of one request (RFC 9110 9.2.2): retried by default.
IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS"))
#: Sent with POST and PATCH when the step opts into their retries (``retry_unsafe: true``).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Failures before any byte of the request left: retried whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
BODY_SNIPPET = 200


class Http:
    __slots__ = (
        "backoff_s",
        "body",
        "headers",
        "method",
        "query",
        "retries",
        "retry_unsafe",
        "timeout_s",
        "url",
    )

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
        retry_unsafe: bool = False,
    ):
        self.method = method
        self.url = url
        self.headers = headers
        self.query = query
        self.body = body
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.retry_unsafe = retry_unsafe

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
        retry_sent = self.method in IDEMPOTENT or self.retry_unsafe
        if self.method not in IDEMPOTENT and self.retry_unsafe:
            # One key per request, the same on each of its attempts: a server that deduplicates
            # by it runs the side effect once however many attempts reach it.
            request.headers.setdefault(IDEMPOTENCY_HEADER, str(uuid.uuid4()))
        attempt = 0
        limit = ctx.policy.limits.document_bytes
        while True:
            try:
                # Streamed: the body is read only up to the document limit, never past it.
                if ctx.answers is not None:
                    response = _canned(ctx.answers, request, where)
                else:
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
                # A connection that never opened sent nothing: safe to retry for any method.
                if attempt < self.retries and (retry_sent or isinstance(error, NOT_SENT)):
                    attempt = await self._backoff(attempt, None)
                    continue
                raise StepError(
                    _tries(cause, attempt) + _unsafe_hint(self, retry_sent, attempt),
                    code="http_error",
                    retryable=True,
                ) from error
            status = response.status_code
            if (status >= 500 or status == 429) and attempt < self.retries and retry_sent:
                wait = _retry_after(response.headers.get("retry-after"))
                delay = self._delay(attempt, wait)
                if _fits_deadline(delay, ctx):
                    attempt = await self._backoff(attempt, wait)
                    continue
                asked = "" if wait is None else f" (Retry-After: {wait:g}s)"
                hint = f"; not retried: waiting {delay:g}s{asked} would pass the deadline"
                raise _failure(response, body, where, attempt, hint)
            break
        if not response.is_success:
            retryable = response.status_code >= 500 or response.status_code == 429
            hint = _unsafe_hint(self, retry_sent, attempt) if retryable else ""
            raise _failure(response, body, where, attempt, hint)
        return _response_document(response, body, document)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff: float = self.backoff_s * 2.0**attempt
        return backoff if retry_after is None else max(backoff, retry_after)

    async def _backoff(self, attempt: int, retry_after: float | None) -> int:
        await asyncio.sleep(self._delay(attempt, retry_after))
        return attempt + 1


def _canned(answers: Answers, request: httpx.Request, where: str) -> httpx.Response:
    """A package test's answer to ``request`` (answers.py), as the response it stands for."""
    answer = answers.answer("http", where)
    headers = dict(answer.headers)
    if isinstance(answer.body, str):
        content = answer.body.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    elif answer.body is None:
        content = b""
    else:
        content = orjson.dumps(answer.body)
        headers.setdefault("content-type", "application/json")
    return httpx.Response(answer.status, headers=headers, content=content, request=request)


def _fits_deadline(delay: float, ctx: RunContext) -> bool:
    """Whether waiting ``delay`` seconds still leaves the execution time before its deadline."""
    if ctx.deadline is None:
        return True
    return asyncio.get_running_loop().time() + delay < ctx.deadline


def _retry_after(header: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), None if none."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # unreadable: the step's own back-off applies
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _unsafe_hint(http: Http, retry_sent: bool, attempt: int) -> str:
    if retry_sent or not http.retries or attempt:
        return ""
    return f" (not retried: {http.method} is not idempotent; `retry_unsafe: true` opts in)"


def _failure(
    response: httpx.Response, body: bytes, where: str, attempt: int, hint: str
) -> StepError:
    snippet = body[:BODY_SNIPPET].decode(response.encoding or "utf-8", errors="replace")
    cause = f"{where} returned {response.status_code} {response.reason_phrase}"
    cause = _tries(cause, attempt) + hint + (f": {snippet}" if snippet else "")
    retryable = response.status_code >= 500 or response.status_code == 429
    return StepError(cause, code="http_error", retryable=retryable)


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
        optional=(
            "method",
            "headers",
            "query",
            "body",
            "timeout",
            "retries",
            "retry_backoff",
            "retry_unsafe",
        ),
    )
    retry_unsafe = options.get("retry_unsafe", False)
    if not isinstance(retry_unsafe, bool):
        ctx.issue(f"expected true or false, got {retry_unsafe!r}", "retry_unsafe")
        retry_unsafe = False
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
        retry_unsafe=retry_unsafe,
    )


step_type = StepTypeDef("http", compile_http)
