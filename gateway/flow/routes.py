"""The Flow service protocol under /fs/<path>/: route -> authenticate -> resolve -> handle.

Served as plain ASGI (see `asgi.py` for why). Every error becomes a Flow ServiceProblem here and
nowhere else on this path.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.admission import Admission, Admitted
from gateway.auth import CLIENT_CERT_SHA256, AccessDenied, Authenticator, AuthError, RuntimeUser
from gateway.configuration.values import OperatorConfig
from gateway.errors import (
    SERVICE_PROBLEM_HEADER,
    Forbidden,
    GatewayError,
    NotFound,
    Unauthorized,
    Unavailable,
    service_problem,
)
from gateway.execution_ids import ExecutionIds
from gateway.flow import actions, data, downloads, files
from gateway.flow.asgi import Receive, Scope, Send, header, read_body, respond
from gateway.flow.bodies import parse_json
from gateway.flow.download_links import DownloadLinks
from gateway.listeners.state import Listener, ListenerPaused, Listeners
from gateway.logs import REQUEST
from gateway.metrics import flow as metrics
from gateway.routing import ExecutorPool
from gateway.services import DeployedService, ServiceRegistry

if TYPE_CHECKING:
    from gateway.callbacks.waiting import WaitingExecutions
    from gateway.history.record import History
    from gateway.tracing import FlowTracer

log = logging.getLogger("flowhost.gateway")

EXECUTION_HEADER = b"x-flowhost-execution-id"
_CHALLENGE = (b"www-authenticate", b'Basic realm="flowhost"')
# Endpoint suffixes after the service path, longest first; message actions are matched apart.
_ENDPOINTS = (
    "/metadata/install",
    "/metadata",
    "/health",
    "/data/delete",
    "/data",
    "/file/content",
    "/file",
)
# Endpoints (besides message actions) whose requests run an execution: admission applies.
_EXECUTING = ("/data", "/file")
# The user admission counts download links under (they carry no user): one per runtime.
DOWNLOAD_LINKS_USER = "(download links)"
# What gateway/admission.py refuses with: the gateway's limit, not a failure of the service.
_ADMISSION = frozenset({"too_many_requests", "runtime_busy"})


class FlowEndpoints:
    """The /fs/ application of a running gateway: built once its parts have started
    (`gateway/running.py`), so every request finds all it needs already in place."""

    def __init__(
        self,
        registry: ServiceRegistry,
        authenticator: Authenticator,
        pool: ExecutorPool,
        history: History,
        waiting: WaitingExecutions,
        *,
        request_max_bytes: int,
        wait_s: float,
        upload_max_bytes: int,
        upload_name_max_bytes: int,
        operator_config: OperatorConfig,
        listeners: Listeners,
        admission: Admission,
        tracer: FlowTracer | None = None,
        download_links: DownloadLinks | None = None,
        download_max_bytes: int = 100 * 1024 * 1024,
        public_url: str = "",
    ) -> None:
        #: Signs and checks list results' download links (None: links are off).
        self._links = download_links
        self._download_max_bytes = download_max_bytes
        self._public_url = public_url.rstrip("/")
        self._registry = registry
        #: Concurrency limits per runtime and user, for every request that runs an execution.
        self.admission = admission
        self._listeners = listeners
        self._operator = operator_config
        self._auth = authenticator
        self._pool = pool
        self._history = history
        self._waiting = waiting
        self._max_bytes = request_max_bytes
        self._wait_s = wait_s
        self._upload_max_bytes = upload_max_bytes
        self._upload_name_max_bytes = upload_name_max_bytes
        self._new_execution_id = ExecutionIds()
        #: Requests by service, operation and status, with latencies (gateway/metrics/).
        self.metrics = metrics.FlowMetrics()
        #: A span per request when tracing is on (gateway/tracing.py); None costs nothing.
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.tracer is None:
            await self._serve(scope, receive, send)
        else:
            await self.tracer.serve(self._serve, scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[metrics.Labels, int, str]:
        start = time.perf_counter()
        path: str = scope["path"]
        execution_id = self._new_execution_id()
        action_name: str | None = None
        listener: Listener | None = None
        labels = metrics.UNRESOLVED
        status = 500
        admitted: Admitted | None = None
        try:
            service_path, endpoint = _split(path)
            if endpoint.startswith(downloads.PREFIX):  # the link's signature is its auth
                _allow(scope["method"], "GET", downloads.PREFIX)

                async def admit(service: DeployedService) -> None:
                    nonlocal listener, labels, admitted
                    listener, labels = self._count(service, "/file/download", "GET", None)
                    if listener.pause is not None:
                        raise listener.refuse()
                    # a download runs an execution; links name no user, so they share one
                    admitted = await self.admission.admit(service.runtime, DOWNLOAD_LINKS_USER)

                status = await downloads.serve(
                    send, endpoint[len(downloads.PREFIX) :], service_path,
                    links=self._links, registry=self._registry, pool=self._pool,
                    operator=self._operator, history=self._history, execution_id=execution_id,
                    wait_s=self._wait_s, max_bytes=self._download_max_bytes, admit=admit,
                )  # fmt: skip
                return labels, status, execution_id
            action_name = endpoint[len("/actions/") :] if endpoint.startswith("/actions/") else None
            user = self._authenticate(scope)
            if user.access is not None:
                self._authorize(scope, user, service_path)
            service = self._resolve(user, service_path, endpoint)
            listener, labels = self._count(
                service,
                endpoint,
                scope["method"],
                action_name if action_name in service.actions else None,
            )
            REQUEST.set((execution_id, service.runtime, service.spec.service_path))
            if listener.pause is not None:  # checked before anything runs; in-flight work ends
                raise listener.refuse()
            if action_name is not None or endpoint.startswith(_EXECUTING):  # runs an execution
                admitted = await self.admission.admit(service.runtime, user.name)
            status, body = await self._handle(
                scope, receive, service, endpoint, action_name, user, execution_id, admitted
            )
            await respond(send, status, body, [(EXECUTION_HEADER, execution_id.encode())])
        except GatewayError as error:
            status = error.status
            if listener is not None and error.code not in _ADMISSION:
                listener.failed(error)
            await self._problem(send, error, path, action_name, execution_id)
        except Exception:
            log.exception("execution %s: unexpected error serving %s", execution_id, path)
            internal = GatewayError(f"internal error serving {path} (execution {execution_id})")
            if listener is not None:
                listener.failed(internal)
            await self._problem(send, internal, path, action_name, execution_id)
        finally:
            if admitted is not None:
                admitted.release()
            self.metrics.observe(labels, status, time.perf_counter() - start)
        return labels, status, execution_id

    async def _problem(
        self, send: Send, error: GatewayError, path: str, action: str | None, execution_id: str
    ) -> None:
        headers = [SERVICE_PROBLEM_HEADER, (EXECUTION_HEADER, execution_id.encode())]
        if isinstance(error, Unauthorized):
            headers.append(_CHALLENGE)
        for name, value in error.headers.items():  # Retry-After of a paused listener
            headers.append((name.lower().encode(), value.encode("latin-1")))
        # a pause is the operator's wish; admission refusals are counted in /metrics, not logged
        # one by one (a flood would flood the log too)
        if (
            error.status >= 500
            and not isinstance(error, ListenerPaused)
            and error.code not in _ADMISSION
        ):
            log.warning("execution %s: %s %s", execution_id, error.code, error.message)
        await respond(send, error.status, service_problem(error, path, action), headers)

    def _authenticate(self, scope: Scope) -> RuntimeUser:
        """Basic auth; without it (or with only Flow's own Authorization value), a client
        certificate bound to a user."""
        value = header(scope, b"authorization")
        try:
            if value is None or value[:6].lower() != b"basic ":
                fingerprint = _client_certificate(scope)
                if fingerprint is not None:
                    return self._auth.authenticate_certificate(fingerprint)
            return self._auth.authenticate(value)
        except AuthError as error:
            raise Unauthorized(error.message, code=error.code) from None

    def _authorize(self, scope: Scope, user: RuntimeUser, service_path: str) -> None:
        client = scope.get("client")
        forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
        try:
            self._auth.authorize(user, client[0] if client else None, forwarded, service_path)
        except AccessDenied as error:
            raise Forbidden(error.message, code=error.code) from None

    def _count(
        self, service: DeployedService, endpoint: str, method: str, action: str | None
    ) -> tuple[Listener, metrics.Labels]:
        """The request's listener, counted, and its metric labels: once per request, whether it
        came with credentials or with a download link's signature."""
        listener = self._listeners.of(service.runtime, service.spec.service_path)
        listener.requests += 1
        version = service.spec.version
        labels = metrics.labels(
            service.runtime, service.spec.service_path, version, endpoint, method, action
        )
        return listener, labels

    def _resolve(self, user: RuntimeUser, service_path: str, endpoint: str) -> DeployedService:
        """The version serving this request: metadata and health are the active version's;
        whatever runs something may go to the service's canary (`ServiceRegistry.route`)."""
        if endpoint.startswith(("/metadata", "/health")):
            service = self._registry.lookup(user.runtime, service_path)
        else:
            service = self._registry.route(user.runtime, service_path)
        if service is not None:
            return service
        elsewhere = self._registry.runtimes_serving(service_path)
        if elsewhere:
            raise Forbidden(
                f"user '{user.name}' belongs to runtime '{user.runtime}'; service "
                f"'{service_path}' is not deployed there",
                code="wrong_runtime",
            )
        raise NotFound(
            f"no service at /fs/{service_path} in runtime '{user.runtime}'", code="unknown_service"
        )

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        service: DeployedService,
        endpoint: str,
        action_name: str | None,
        user: RuntimeUser,
        execution_id: str,
        admitted: Admitted | None,
    ) -> tuple[int, bytes]:
        method = scope["method"]
        if action_name is not None:
            _allow(method, "POST", endpoint)
            action = service.actions.get(action_name)
            if action is None:
                known = ", ".join(sorted(service.actions)) or "none"
                raise NotFound(
                    f"service '{service.spec.service_path}' has no action '{action_name}' "
                    f"(actions: {known})",
                    code="unknown_action",
                )
            request = actions.parse_service_request(await read_body(receive, self._max_bytes))
            record = _debug_requested(scope)
            operator = self._operator.of(service.runtime)
            execution = actions.build_execution(
                service, action, request, user, execution_id, record, operator
            )
            body = await actions.run_action(
                self._pool,
                service,
                action,
                request,
                execution,
                self._wait_s,
                self._history,
                self._waiting,
                _flow_user(scope) if request.get("callbackUri") else "",
                admitted,
            )
            return 200, body
        if endpoint == "/metadata":
            if method == "GET":
                return 200, service.describe_v2
            _allow(method, "POST", endpoint)
            request = _optional_json(await read_body(receive, self._max_bytes))
            uri = request.get("uri")  # echoed, and a cache key: text or nothing
            return 200, service.describe_v1(
                uri if isinstance(uri, str) else None, request.get("culture")
            )
        if endpoint == "/metadata/install":
            _allow(method, "POST", endpoint)
            await read_body(receive, self._max_bytes)
            return 200, service.install_v2
        if endpoint == "/health":
            ready = len(self._pool.ready(service.runtime))
            body = orjson.dumps({"status": "ok" if ready else "unavailable", "executors": ready})
            if not ready:
                raise Unavailable(f"no ready executor in runtime '{service.runtime}'")
            return 200, body
        if endpoint.startswith("/data"):
            body = await read_body(receive, self._max_bytes)
            return 200, await data.handle(
                self._pool,
                service,
                method,
                endpoint,
                body,
                user,
                execution_id,
                self._wait_s,
                self._operator.of(service.runtime),
                self._history,
            )
        if endpoint == "/file":
            _allow(method, "POST", endpoint)
            body = await read_body(receive, self._max_bytes)
            return 200, await files.list_files(
                self._pool,
                service,
                body,
                user,
                execution_id,
                self._wait_s,
                self._operator.of(service.runtime),
                self._history,
                self._links,
                self._public_url or _request_base(scope),
            )
        if endpoint == "/file/content":
            _allow(method, "POST", endpoint)
            return 200, await files.upload(
                self._pool,
                service,
                scope,
                receive,
                user,
                execution_id,
                self._wait_s,
                self._upload_max_bytes,
                self._max_bytes,
                self._operator.of(service.runtime),
                self._upload_name_max_bytes,
                self._history,
            )
        what = "data actions" if endpoint.startswith("/data") else "file resources"
        raise NotFound(
            f"service '{service.spec.service_path}' has no {what} ({endpoint} is not served)",
            code="not_provided",
        )


async def not_running(scope: Scope, receive: Receive, send: Send) -> None:
    """What /fs/ answers while the gateway's parts are not started (before its lifespan has
    started them, or after it stopped them): a 503 ServiceProblem Flow can retry on."""
    error = Unavailable(
        "the gateway is not running (it is starting or stopping); try again", code="not_running"
    )
    await respond(
        send, error.status, service_problem(error, scope["path"]), [SERVICE_PROBLEM_HEADER]
    )


def _client_certificate(scope: Scope) -> str | None:
    """The SHA-256 fingerprint of the verified client certificate, if the client sent one."""
    tls = scope.get("extensions", {}).get("tls")
    return tls.get(CLIENT_CERT_SHA256) if tls else None


def _split(path: str) -> tuple[str, str]:
    """'/fs/orders/actions/get' -> ('orders', '/actions/get')."""
    rest = path[len("/fs/") :]
    index = rest.find("/actions/")
    if index > 0:
        return rest[:index], rest[index:]
    index = rest.find(downloads.PREFIX)
    if index > 0:
        return rest[:index], rest[index:]
    for suffix in _ENDPOINTS:
        if rest.endswith(suffix) and len(rest) > len(suffix):
            return rest[: -len(suffix)], suffix
    raise NotFound(
        f"unknown Flow endpoint {path}; expected /fs/<service>/ followed by metadata, "
        "metadata/install, actions/<name>, data, data/delete, file, file/content, "
        "file/download/<link> or health",
        code="unknown_endpoint",
    )


def _request_base(scope: Scope) -> str:
    """``scheme://host`` as the client addressed this gateway (when public_url is not set)."""
    host = (header(scope, b"host") or b"").decode("latin-1")
    if not host or any(c in host for c in "/\\@ "):
        host = "localhost"
    return f"{scope.get('scheme', 'http')}://{host}"


def _allow(method: str, allowed: str, endpoint: str) -> None:
    if method != allowed:
        raise GatewayError(
            f"{method} is not allowed on {endpoint}; use {allowed}",
            status=405,
            code="method_not_allowed",
        )


def _optional_json(body: bytes) -> dict[str, Any]:
    """Describe requests may be empty (the Service Checker sends none)."""
    if not body.strip():
        return {}
    value = parse_json(body, "DescribeServiceRequest")
    return value if isinstance(value, dict) else {}


def _debug_requested(scope: Scope) -> bool:
    """One request may ask for a full recording, as Boomi's debug switch does."""
    query: bytes = scope.get("query_string", b"")
    return b"_flowhost_debug=true" in query or header(scope, b"x-flowhost-debug") == b"true"


def _flow_user(scope: Scope) -> str:
    """Flow's user string, for the Authorization header of callbacks.

    On /fs/ the Authorization header carries our Basic credentials, so Flow's URL-encoded user
    string is taken from `X-ManyWho-Authorization`, or from a second Authorization header that
    is not Basic (send the Basic one first).
    """
    explicit = header(scope, b"x-manywho-authorization")
    if explicit:
        return explicit.decode("latin-1")
    for key, value in scope["headers"]:
        if key == b"authorization" and not bytes(value).lower().startswith(b"basic "):
            return bytes(value).decode("latin-1")
    return ""
