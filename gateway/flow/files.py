"""File resources: ``POST /file`` (list) and ``POST /file/content`` (multipart upload).

Both answer an ObjectDataResponse of Flow ``$File`` objects. An upload streams: body chunks are
parsed as they arrive and the file's bytes go on to the executor as chunks of the ``Upload``
RPC, so the gateway never holds the file; past the size limit the upload stops with 413 before
the executor has written more than the limit. The process contract is in docs/packages.md.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

import orjson

from gateway.auth import RuntimeUser
from gateway.configuration.values import RuntimeConfig
from gateway.errors import (
    BadRequest,
    ExecutionFailed,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from gateway.file_calls import UploadCall
from gateway.flow import data
from gateway.flow.actions import configuration, flow_facts
from gateway.flow.asgi import Receive, Scope, header
from gateway.flow.download_links import DownloadLinks, LinkTarget
from gateway.flow.failures import failure
from gateway.flow.multipart import MultipartReader
from gateway.flow.scalars import format_scalar
from gateway.routing import ExecutorPool
from gateway.services import DeployedService
from gateway.spec import FileSpec
from gateway.translate import Execution

if TYPE_CHECKING:
    from gateway.history.record import History

FILE_TYPE: Final = "$File"
# $File properties (flow-protocol.md §4.3): name, content type, and the document keys read.
FILE_PROPERTIES: Final = (
    ("Id", "ContentString", ("Id", "id", "externalId")),
    ("Name", "ContentString", ("Name", "name")),
    ("Description", "ContentString", ("Description", "description")),
    ("Kind", "ContentString", ("Kind", "kind")),
    ("Mime Type", "ContentString", ("Mime Type", "mimeType")),
    ("Date Created", "ContentDateTime", ("Date Created", "dateCreated")),
    ("Date Modified", "ContentDateTime", ("Date Modified", "dateModified")),
    ("Download Uri", "ContentString", ("Download Uri", "downloadUri")),
    ("Embed Uri", "ContentString", ("Embed Uri", "embedUri")),
    ("Icon Uri", "ContentString", ("Icon Uri", "iconUri")),
)
# Bytes to read and throw away after a refused upload so the client sees the answer, not a
# reset connection; a longer body is cut off.
_DRAIN_LIMIT: Final = 16 * 1024 * 1024


def _resource(service: DeployedService, request: dict[str, Any], verb: str) -> FileSpec:
    files = service.spec.files
    if not files:
        raise NotFound(
            f"service '{service.spec.service_path}' has no file resources", code="not_provided"
        )
    path = request.get("resourcePath")
    if isinstance(path, str) and path.strip():
        wanted = "/" + path.strip().strip("/")
        found = next((f for f in files if f.path.rstrip("/") == wanted.rstrip("/")), None)
    else:
        found = files[0] if len(files) == 1 else None
    if found is None:
        known = ", ".join(f.path for f in files)
        raise BadRequest(
            f"no file resource at resourcePath {path!r} (resources: {known})",
            code="unknown_resource",
        )
    if not getattr(found, verb):
        raise NotFound(f"file resource {found.path} has no {verb} process", code="not_provided")
    return found


def _execution(
    service: DeployedService,
    process: str,
    request: dict[str, Any],
    user: RuntimeUser,
    execution_id: str,
    operator: RuntimeConfig,
) -> Execution:
    config, secrets = configuration(
        service, request.get("configurationValues"), operator, request.get("tenantId")
    )
    return Execution(
        deployment=service.key,
        process=process,
        timeout_ms=service.spec.timeout_ms(process),  # the gateway's backstop waits for it
        documents=[],
        config=config,
        flow=flow_facts(request, user, execution_id),
        execution_id=execution_id,
        secret_config=secrets,
    )


def file_object(document: Any, order: int) -> dict[str, Any]:
    """A document as a Flow ``$File`` object (its ``Id`` is the externalId)."""
    if not isinstance(document, dict):
        raise ExecutionFailed(
            f"a file process returned {orjson.dumps(document).decode()[:80]}, not an object",
            code="bad_response_document",
        )
    props = []
    external_id = None
    for name, content_type, keys in FILE_PROPERTIES:
        value = next((document[k] for k in keys if document.get(k) is not None), None)
        text = format_scalar(value) if isinstance(value, str | int | float | bool) else None
        if name == "Id":
            external_id = text
        props.append(
            {
                "typeElementPropertyId": None,
                "developerName": name,
                "contentType": content_type,
                "contentValue": text,
                "contentFormat": None,
                "objectData": None,
            }
        )
    return {
        "internalId": None,
        "externalId": external_id,
        "developerName": FILE_TYPE,
        "typeElementId": None,
        "order": order,
        "isSelected": False,
        "properties": props,
    }


def _file_filter(request: dict[str, Any], resource: FileSpec) -> dict[str, Any]:
    raw = request.get("listFilter")
    raw = raw if isinstance(raw, dict) else {}
    order = raw.get("orderByPropertyDeveloperName")
    return {
        "resourcePath": resource.path,
        "search": raw.get("search") or None,
        "orderBy": [{"property": order, "direction": raw.get("orderByDirectionType") or "ASC"}]
        if order
        else [],
        "limit": raw.get("limit") or None,
        "offset": raw.get("offset") or 0,
    }


async def list_files(
    pool: ExecutorPool,
    service: DeployedService,
    body: bytes,
    user: RuntimeUser,
    execution_id: str,
    wait_s: float,
    operator: RuntimeConfig,
    history: History | None = None,
    links: DownloadLinks | None = None,
    base_url: str = "",
) -> bytes:
    """The files of a resource; with a ``download`` process and ``links``, each carries a
    ``downloadUri`` under ``base_url`` (downloads.py serves it)."""
    request = data.parse_request(body, "FileDataRequest")
    resource = _resource(service, request, "list")
    execution = _execution(service, resource.list, request, user, execution_id, operator)
    execution.documents = [(orjson.dumps(_file_filter(request, resource)), {})]
    started = time.time()
    result = await pool.run(service.runtime, execution, wait_s)
    data.record(history, service, execution, f"list {resource.path}", "file", started, result)
    if result.status != "ok":
        raise failure(resource.list, result)
    returned = data.returned(resource.list, result)
    if resource.download and links is not None:
        tenant = request.get("tenantId")
        returned = [
            _with_link(
                d, links, base_url, service, resource, tenant if isinstance(tenant, str) else ""
            )
            for d in returned
        ]
    objects = [file_object(d, i) for i, d in enumerate(returned)]
    return orjson.dumps({"culture": None, "objectData": objects, "hasMoreResults": False})


def _with_link(
    document: Any,
    links: DownloadLinks,
    base_url: str,
    service: DeployedService,
    resource: FileSpec,
    tenant: str,
) -> Any:
    """A listed file with its download link (a file without an id gets none)."""
    if not isinstance(document, dict):
        return document
    file_id = next((document[k] for k in ("Id", "id", "externalId") if document.get(k)), None)
    if not isinstance(file_id, str | int):
        return document
    path = service.spec.service_path
    target = LinkTarget(service.runtime, path, resource.path, str(file_id), tenant)
    return {**document, "downloadUri": f"{base_url}/fs/{path}/file/download/{links.token(target)}"}


async def upload(
    pool: ExecutorPool,
    service: DeployedService,
    scope: Scope,
    receive: Receive,
    user: RuntimeUser,
    execution_id: str,
    wait_s: float,
    max_bytes: int,
    json_limit: int,
    operator: RuntimeConfig,
    name_max_bytes: int = 255,
    history: History | None = None,
) -> bytes:
    if not service.spec.files:
        raise NotFound(
            f"service '{service.spec.service_path}' has no file resources", code="not_provided"
        )
    reader = MultipartReader(header(scope, b"content-type"), json_limit, name_max_bytes)
    connection = pool.pick(service.runtime, service.key, set())
    if connection is None:
        raise Unavailable(
            f"no ready executor in runtime '{service.runtime}' hosts {service.key}",
            code="no_executor",
        )
    call: UploadCall | None = None
    started = time.time()
    size = 0
    more = True
    try:
        while more:
            message = await receive()
            more = message.get("more_body", False)
            for piece in reader.feed(message.get("body", b"")):
                size += len(piece)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"the file is larger than the upload limit of {max_bytes} bytes",
                        code="file_too_large",
                    )
                if piece:
                    if call is None:
                        call = UploadCall(connection, max_bytes)
                    await call.send(piece)
        if not reader.ended:
            raise BadRequest("the multipart body ended early", code="malformed_multipart")
        request = _json_part(reader.json)
        resource = _resource(service, request, "upload")
        if reader.file is None:
            raise BadRequest("the upload has no file part", code="missing_file")
        if call is None:
            raise BadRequest(f"the file {reader.file.name!r} is empty", code="empty_file")
        execution = _execution(service, resource.upload, request, user, execution_id, operator)
        document = {
            "file_name": reader.file.name,
            "file_content_type": reader.file.content_type,
            "resource_path": resource.path,
        }
        tracked = {"file_name": reader.file.name, "file_content_type": reader.file.content_type}
        execution.documents = [(orjson.dumps(document), tracked)]
        execution.executor = connection.address
        finishing, call = call, None
        result = await finishing.finish(execution, wait_s)
        operation = f"upload {resource.path}"
        data.record(history, service, execution, operation, "file", started, result)
    except GatewayError:  # too large, a refused file name, a malformed body
        if more:
            await _drain(receive)
        raise
    finally:
        if call is not None:
            call.abort()
    if result.status != "ok":
        raise failure(resource.upload, result)
    returned = data.returned(resource.upload, result)
    if not returned:
        raise ExecutionFailed(
            f"upload process '{resource.upload}' returned no document; it must return the "
            "stored file with its id",
            code="bad_response_document",
        )
    created = file_object(returned[0], 0)
    if created["externalId"] is None:
        raise ExecutionFailed(
            f"upload process '{resource.upload}' returned a document without an id "
            "(id or externalId)",
            code="bad_response_document",
        )
    return orjson.dumps({"culture": None, "objectData": [created], "hasMoreResults": False})


def _json_part(raw: bytearray | None) -> dict[str, Any]:
    if raw is None:
        raise BadRequest(
            "the upload has no FileDataRequest part (JSON, named FileDataRequest)",
            code="missing_request_part",
        )
    request = data.parse_request(bytes(raw), "FileDataRequest")
    return request


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained < _DRAIN_LIMIT:
        message = await receive()
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
