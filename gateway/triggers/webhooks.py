"""`POST /hooks/<runtime>/<package>/<name>`: a webhook trigger runs its process on the body.

Plain ASGI beside /fs/ (the management API's guard expects JSON; a webhook may carry any
content). The caller proves itself with a runtime user's basic credentials (when the trigger
allows users) or an HMAC signature over the body (`signature.py`) with the secret the operator
keeps in the package's configuration. A JSON trigger takes JSON only (415 otherwise); a raw one
takes any content and hands the process the bytes with their content type as the document's
`content_type` property. The answer is the process's first output document, or `202
{"executionId"}` at once for an `async: true` trigger. Every refusal is a JSON problem naming
what was wrong (gateway/errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson

from gateway.auth import Authenticator, AuthError
from gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    NotFound,
    Unauthorized,
    Unavailable,
    api_problem,
)
from gateway.flow.asgi import Receive, Scope, Send, header, read_body
from gateway.flow.failures import failure
from gateway.lifecycle import Lifecycle
from gateway.services import DeployedService, ServiceRegistry
from gateway.spec import TriggerSpec, WebhookSpec
from gateway.translate import Execution
from gateway.triggers.run import TriggerRunner
from gateway.triggers.signature import HEADER, SignatureRefused, verify

__all__ = ["WebhookEndpoints", "not_running"]

log = logging.getLogger("flowhost.gateway")

PREFIX = "/hooks/"
_EXECUTION_HEADER = b"x-flowhost-execution"


class WebhookEndpoints(Lifecycle):
    def __init__(
        self,
        registry: ServiceRegistry,
        authenticator: Authenticator,
        runner: TriggerRunner,
        *,
        body_max_bytes: int,
        async_max: int,
    ) -> None:
        self._registry = registry
        self._auth = authenticator
        self._runner = runner
        self._body_max_bytes = body_max_bytes
        self._async_max = async_max
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Nothing to start: it serves once the gateway routes /hooks/ to it."""

    async def stop(self) -> None:
        """Async webhook executions still running are cancelled (their history says so when the
        executor answers; the caller had its 202)."""
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, headers = await self._serve(scope, receive)
        except GatewayError as error:
            status, body = error.status, api_problem(error)
            headers = [(b"content-type", b"application/json")]
            headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in error.headers.items()]
        except Exception:
            log.exception("webhook %s failed", scope["path"])
            internal = GatewayError(f"internal error serving {scope['path']}; see the gateway log")
            status, body = 500, api_problem(internal)
            headers = [(b"content-type", b"application/json")]
        await _send(send, status, body, headers)

    async def _serve(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        service, trigger, hook = self._resolve(scope["path"])
        if scope["method"] != "POST":
            raise GatewayError(
                f"{scope['method']} is not allowed on a webhook; use POST",
                status=405,
                code="method_not_allowed",
            )
        listener = self._runner.listener(service, trigger)
        if listener.pause is not None:
            listener.requests += 1
            raise listener.refuse()
        user = self._user(scope, service, hook)
        limit = min(hook.max_body_bytes, self._body_max_bytes)
        body = await read_body(receive, limit)
        if user is None:
            self._check_signature(scope, body, service, hook)
        document, properties = _document(scope, body, hook)
        execution = self._runner.execution(service, trigger, document, properties, user or "")
        if hook.respond_async:
            if len(self._running) >= self._async_max:
                raise Unavailable(
                    f"{len(self._running)} webhook executions are running on this gateway, the "
                    f"limit (FLOWHOST_WEBHOOK_ASYNC_MAX={self._async_max}); try again",
                    code="too_many_webhooks",
                    headers={"Retry-After": "5"},
                )
            task = asyncio.create_task(self._detached(service, trigger, execution))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            answer = orjson.dumps({"executionId": execution.execution_id})
            return 202, answer, _headers(b"application/json", execution.execution_id)
        fired = await self._runner.run(service, trigger, execution)
        result = fired.result
        if result.status != "ok":
            raise failure(trigger.process, result)
        if not result.documents:
            return 204, b"", _headers(None, fired.execution_id)
        data, props = result.documents[0]
        kind = props.get("content_type") or _guess(data)
        return 200, data, _headers(kind.encode("latin-1"), fired.execution_id)

    async def _detached(
        self, service: DeployedService, trigger: TriggerSpec, execution: Execution
    ) -> None:
        try:
            await self._runner.run(service, trigger, execution)
        except GatewayError as error:
            log.warning(
                "webhook %s execution %s: %s", trigger.name, execution.execution_id, error.message
            )

    def _resolve(self, path: str) -> tuple[DeployedService, TriggerSpec, WebhookSpec]:
        parts = path[len(PREFIX) :].split("/")
        if len(parts) != 3 or not all(parts):
            raise NotFound(
                f"unknown webhook {path[:200]}; expected /hooks/<runtime>/<package>/<trigger>",
                code="unknown_trigger",
            )
        runtime, package, name = parts
        services = self._registry.services(runtime)
        service = next((s for s in services if s.spec.name == package), None)
        trigger = service.spec.trigger(name) if service is not None else None
        if service is None or trigger is None or trigger.webhook is None:
            raise NotFound(
                f"no webhook trigger '{name}' of package '{package}' in runtime '{runtime}'",
                code="unknown_trigger",
            )
        return service, trigger, trigger.webhook

    def _user(self, scope: Scope, service: DeployedService, hook: WebhookSpec) -> str | None:
        """The runtime user who called (basic auth), or None when the call must carry a
        signature (a sender's own Authorization scheme, a bearer token, is not ours to read)."""
        value = header(scope, b"authorization")
        if value is None or value[:6].lower() != b"basic " or not hook.users:
            if not hook.secret:
                raise Unauthorized(
                    f"this webhook needs the basic credentials of a user of runtime "
                    f"'{service.runtime}'",
                    code="missing_credentials",
                )
            return None
        try:
            user = self._auth.authenticate(value)
        except AuthError as error:
            raise Unauthorized(error.message, code=error.code) from None
        if user.runtime != service.runtime:
            raise Forbidden(
                f"user '{user.name}' belongs to runtime '{user.runtime}', not '{service.runtime}'",
                code="wrong_runtime",
            )
        return user.name

    def _check_signature(
        self, scope: Scope, body: bytes, service: DeployedService, hook: WebhookSpec
    ) -> None:
        secret = self._runner.config_value(service, hook.secret)
        if not secret:
            raise Unavailable(
                f"the webhook's secret (configuration value '{hook.secret}') is not set: the "
                f"operator sets it with `flowhost config set {hook.secret} VALUE --runtime "
                f"{service.runtime} --secret`",
                code="webhook_secret_unset",
            )
        try:
            verify(header(scope, HEADER), body, secret, time.time(), hook.replay_window_s)
        except SignatureRefused as refused:
            raise Unauthorized(refused.message, code=refused.code) from None


async def not_running(scope: Scope, receive: Receive, send: Send) -> None:
    """What /hooks/ answers while the gateway's parts are not started: a 503 to retry on."""
    error = Unavailable(
        "the gateway is not running (it is starting or stopping); try again", code="not_running"
    )
    await _send(send, error.status, api_problem(error), [(b"content-type", b"application/json")])


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _document(scope: Scope, body: bytes, hook: WebhookSpec) -> tuple[bytes, dict[str, str]]:
    content_type = (header(scope, b"content-type") or b"").decode("latin-1")
    if hook.body == "raw":
        return body, {"content_type": content_type or "application/octet-stream"}
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise GatewayError(
            f"this webhook takes JSON (Content-Type: application/json), got "
            f"{content_type[:100] or 'no content type'}",
            status=415,
            code="unsupported_media_type",
        )
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not JSON: {error}", code="invalid_json") from None
    return body, {}


def _guess(data: bytes) -> str:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return "application/octet-stream"
    return "application/json"


def _headers(content_type: bytes | None, execution_id: str) -> list[tuple[bytes, bytes]]:
    headers = [(_EXECUTION_HEADER, execution_id.encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return headers
