"""``GET /fs/<path>/file/download/<token>``: a list result's download link, streamed.

The link's token (download_links.py) is its authentication: no Authorization header is asked
for, so Flow's Files component can hand it to the user's browser. The gateway runs the file
resource's ``download`` process on an executor of the token's runtime (with the operator's
configuration, and the tenant's when the list had one) through the ``Download`` RPC, which
streams the file the process names; the bytes go on to the client as they arrive, with the
file's type, size and a sanitised ``Content-Disposition``. What the process names is checked by
the executor (inside its files root, within ``download_max_bytes``).
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import orjson

from gateway.configuration.values import OperatorConfig
from gateway.errors import GatewayError, NotFound, Unavailable
from gateway.file_calls import DownloadCall
from gateway.flow import data
from gateway.flow.actions import configuration
from gateway.flow.asgi import Send
from gateway.flow.download_links import DownloadLinks, LinkTarget
from gateway.flow.failures import failure
from gateway.routing import ExecutorPool
from gateway.services import DeployedService, ServiceRegistry
from gateway.translate import Execution

if TYPE_CHECKING:
    from gateway.history.record import History

log = logging.getLogger("flowhost.gateway")

PREFIX: Final = "/file/download/"
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_FALLBACK_NAME = re.compile(r"[^A-Za-z0-9 ._()+-]")


def disposition(name: str) -> bytes:
    """``attachment`` with the name twice: an ASCII stand-in, and RFC 6266's UTF-8 form."""
    plain = _FALLBACK_NAME.sub("_", name)[:200] or "download"
    encoded = urllib.parse.quote(name[:200], safe="")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}".encode()


def media_type(value: str) -> bytes:
    """The type the process gave when it is one (``type/subtype``), else octet-stream."""
    kind = value.split(";", 1)[0].strip()
    return (kind if _MEDIA_TYPE.match(kind) else "application/octet-stream").encode()


async def serve(
    send: Send,
    token: str,
    service_path: str,
    *,
    links: DownloadLinks | None,
    registry: ServiceRegistry,
    pool: ExecutorPool,
    operator: OperatorConfig,
    history: History | None,
    execution_id: str,
    wait_s: float,
    max_bytes: int,
    admit: Callable[[DeployedService], Awaitable[None]],
) -> int:
    """Answer one download link; returns the status sent. Raises GatewayError before the
    answer starts; a failure after it has started ends the (then short) answer. ``admit`` is
    told the service once the link names one, and may refuse it (a paused listener, an
    admission limit)."""
    if links is None:
        raise NotFound(
            "download links are off: the gateway has neither download_link_key nor a "
            "configuration key to sign them with",
            code="downloads_disabled",
        )
    target = links.verify(token, service_path)
    service = registry.lookup(target.runtime, service_path)
    if service is None:
        raise NotFound(
            f"no service at /fs/{service_path} in runtime '{target.runtime}'",
            code="unknown_service",
        )
    await admit(service)
    resource = next((f for f in service.spec.files if f.path == target.resource_path), None)
    if resource is None or not resource.download:
        raise NotFound(
            f"file resource {target.resource_path} has no download process", code="not_provided"
        )
    execution = _execution(service, resource.download, target, execution_id, operator)
    connection = pool.pick(service.runtime, service.key, set())
    if connection is None:
        raise Unavailable(
            f"no ready executor in runtime '{service.runtime}' hosts {service.key}",
            code="no_executor",
        )
    execution.executor = connection.address
    call = DownloadCall(connection, execution, max_bytes)
    started = time.time()
    try:
        start = await call.start(wait_s)
        operation = f"download {resource.path}"
        data.record(history, service, execution, operation, "file", started, start.result)
        if start.result.status != "ok":
            raise failure(resource.download, start.result)
        headers = [
            (b"content-type", media_type(start.content_type)),
            (b"content-length", str(start.size).encode()),
            (b"content-disposition", disposition(start.file_name)),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", b"sandbox"),  # never a page on the gateway's origin
            (b"cache-control", b"private, no-store"),
            (b"x-flowhost-execution-id", execution_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            async for chunk in call.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except GatewayError as broken:  # the answer has started: it can only end short
            log.warning("execution %s: download cut short: %s", execution_id, broken.message)
            return 200
        await send({"type": "http.response.body", "body": b""})
        return 200
    finally:
        call.close()


def _execution(
    service: DeployedService,
    process: str,
    target: LinkTarget,
    execution_id: str,
    operator: OperatorConfig,
) -> Execution:
    config, secrets = configuration(
        service, None, operator.of(service.runtime), target.tenant or None
    )
    flow = {"runtime": service.runtime, "execution_id": execution_id}
    if target.tenant:
        flow["tenantId"] = target.tenant
    document = {"id": target.file_id, "resource_path": target.resource_path}
    return Execution(
        deployment=service.key,
        process=process,
        timeout_ms=service.spec.timeout_ms(process),
        documents=[(orjson.dumps(document), {})],
        config=config,
        flow=flow,
        execution_id=execution_id,
        secret_config=secrets,
    )
