"""Data actions: ``POST /data`` (load), ``PUT /data`` (save), ``POST /data/delete``.

An ObjectDataRequest is routed by ``objectDataType.developerName`` to the type's process. Load
gets one document, the normalised list filter (and ``$props.param_id`` when Flow asked for one
object by id); save and delete get one document per object, shaped by the type's profile. The
documents a process returns become the objects of the answer, each with the ``externalId`` of
its id property. The contract is written for package authors in docs/packages.md.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.auth import RuntimeUser
from gateway.configuration.values import RuntimeConfig
from gateway.errors import (
    BadRequest,
    ExecutionFailed,
    GatewayError,
    NotFound,
)
from gateway.flow.actions import configuration, flow_facts
from gateway.flow.bodies import parse_json
from gateway.flow.failures import failure
from gateway.flow.listfilter import FilterError, normalise
from gateway.flow.objects import DeployedData
from gateway.flow.scalars import Invalid
from gateway.flow.values import FlowValueError, format_scalar
from gateway.routing import ExecutorPool
from gateway.services import DeployedService
from gateway.translate import Execution, ExecutionResult

if TYPE_CHECKING:
    from gateway.history.record import History


def parse_request(body: bytes, what: str) -> dict[str, Any]:
    request = parse_json(body, what)
    if not isinstance(request, dict):
        raise BadRequest(f"body is not a {what}: expected a JSON object", code="not_a_request")
    values = request.get("configurationValues")
    if values is not None and not isinstance(values, list):
        raise BadRequest(
            f"body is not a {what}: 'configurationValues' must be a list, "
            f"got {type(values).__name__}",
            code="not_a_request",
        )
    return request


def record(
    history: History | None,
    service: DeployedService,
    execution: Execution,
    operation: str,
    kind: str,
    started: float,
    result: ExecutionResult,
) -> None:
    """Put a data-action or file execution in the history, as message actions are: its
    `action` is the operation and what it is on ("load Country", "upload /invoices")."""
    if history is not None and history.enabled:
        spec = service.spec
        identity = (service.runtime, spec.name, spec.version, execution.process, operation)
        history.record_result(
            execution.execution_id, identity, execution.executor, started, result, kind
        )


def returned(process: str, result: ExecutionResult) -> list[Any]:
    try:
        return [orjson.loads(data) for data, _ in result.documents]
    except orjson.JSONDecodeError as error:
        raise ExecutionFailed(
            f"process '{process}' returned a document that is not JSON: {error}",
            code="bad_response_document",
        ) from None


async def handle(
    pool: ExecutorPool,
    service: DeployedService,
    method: str,
    endpoint: str,
    body: bytes,
    user: RuntimeUser,
    execution_id: str,
    wait_s: float,
    operator: RuntimeConfig,
    history: History | None = None,
) -> bytes:
    if not service.data:
        raise NotFound(
            f"service '{service.spec.service_path}' has no data actions", code="not_provided"
        )
    if endpoint == "/data" and method in ("POST", "PUT"):
        verb = "load" if method == "POST" else "save"
    elif endpoint == "/data/delete" and method == "POST":
        verb = "delete"
    else:
        allowed = "POST (load) or PUT (save)" if endpoint == "/data" else "POST"
        raise GatewayError(
            f"{method} is not allowed on {endpoint}; use {allowed}",
            status=405,
            code="method_not_allowed",
        )
    request = parse_request(body, "ObjectDataRequest")
    data = _data_type(service, request)
    process = getattr(data.spec, verb)
    if not process:
        raise NotFound(
            f"type '{data.type_name}' has no {verb} process in service "
            f"'{service.spec.service_path}'",
            code="not_provided",
        )
    config, secrets = configuration(
        service, request.get("configurationValues"), operator, request.get("tenantId")
    )
    execution = Execution(
        deployment=service.key,
        process=process,
        timeout_ms=service.spec.timeout_ms(process),  # the gateway's backstop waits for it
        documents=[],
        config=config,
        flow=flow_facts(request, user, execution_id),
        execution_id=execution_id,
        data_type=data.type_name,
        secret_config=secrets,
    )
    limit: int | None = None
    if verb == "load":
        try:
            list_filter = normalise(
                request.get("listFilter"), data.type_name, data.columns, data.id_property
            )
        except FilterError as error:
            raise BadRequest(str(error), code="invalid_filter") from None
        limit = list_filter["limit"]
        encoded = orjson.dumps(list_filter)
        execution.documents = [(encoded, {})]
        execution.list_filter = encoded
        if list_filter["id"] is not None:
            execution.props["param_id"] = str(request["listFilter"]["id"])
    else:
        execution.documents = _object_documents(data, request.get("objectData"), verb)
    started = time.time()
    result = await pool.run(service.runtime, execution, wait_s)
    record(history, service, execution, f"{verb} {data.type_name}", "data", started, result)
    if result.status != "ok":
        raise failure(process, result)
    if verb == "delete":
        return _answer([], more=False)
    documents = returned(process, result)
    more = limit is not None and len(documents) > limit
    if more:
        documents = documents[:limit]
    return _answer(_objects(data, process, documents), more=more)


def _data_type(service: DeployedService, request: dict[str, Any]) -> DeployedData:
    wanted = request.get("objectDataType")
    name = wanted.get("developerName") if isinstance(wanted, dict) else None
    if not isinstance(name, str) or not name:
        raise BadRequest(
            "objectDataType.developerName is required: it names the type to load, save or delete",
            code="unknown_type",
        )
    data = service.data.get(name)
    if data is None:
        known = ", ".join(sorted(service.data))
        raise BadRequest(
            f"service '{service.spec.service_path}' has no data action for type '{name}' "
            f"(types: {known})",
            code="unknown_type",
        )
    return data


def _object_documents(
    data: DeployedData, objects: Any, verb: str
) -> list[tuple[bytes, dict[str, str]]]:
    if not isinstance(objects, list) or not objects:
        raise BadRequest(f"objectData must list the objects to {verb}", code="invalid_object")
    documents = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise BadRequest(f"objectData[{index}] must be an object", code="invalid_object")
        try:
            document = data.translator.to_document(obj)
        except FlowValueError as error:
            raise BadRequest(f"objectData[{index}]: {error}", code="invalid_object") from None
        external_id = obj.get("externalId")
        properties: dict[str, str] = {}
        if isinstance(obj.get("internalId"), str):
            properties["flow_internal_id"] = obj["internalId"]
        key = data.id_property
        if external_id not in (None, ""):
            properties["flow_external_id"] = str(external_id)
            properties["flow_operation"] = "update" if verb == "save" else verb
            if verb == "delete":
                document[key] = _typed_id(data, str(external_id), index)
            elif document.get(key) in (None, ""):
                raise BadRequest(
                    f"objectData[{index}] has externalId {external_id!r} (an update) but no "
                    f"'{key}', the id of type '{data.type_name}'",
                    code="missing_id",
                )
        else:
            properties["flow_operation"] = "create" if verb == "save" else verb
            if verb == "delete" and document.get(key) in (None, ""):
                raise BadRequest(
                    f"objectData[{index}] has neither an externalId nor '{key}': nothing says "
                    "which object to delete",
                    code="missing_id",
                )
        documents.append((orjson.dumps(document), properties))
    return documents


def _typed_id(data: DeployedData, text: str, index: int) -> Any:
    kind = data.columns.get(data.id_property, "string")
    try:
        return normalise({"id": text}, data.type_name, data.columns, data.id_property)["id"]
    except FilterError:
        raise BadRequest(
            f"objectData[{index}].externalId {text!r} is not a {kind} id", code="invalid_object"
        ) from None


def _objects(data: DeployedData, process: str, documents: list[Any]) -> list[dict[str, Any]]:
    objects = []
    for order, document in enumerate(documents):
        external_id = None
        if isinstance(document, dict):
            external_id = document.get(data.id_property)
        try:
            text = None if external_id is None else format_scalar(external_id)
            objects.append(data.translator.to_object(document, text, order))
        except (FlowValueError, Invalid) as error:
            raise ExecutionFailed(
                f"process '{process}' returned document {order}, which does not fit type "
                f"'{data.type_name}': {error}",
                code="bad_response_document",
            ) from None
    return objects


def _answer(objects: list[dict[str, Any]], *, more: bool) -> bytes:
    return orjson.dumps({"culture": None, "objectData": objects, "hasMoreResults": more})
