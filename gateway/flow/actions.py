"""Message actions: a Flow ServiceRequest in, a process run on an executor, a ServiceResponse
out.

When the request carries a `callbackUri` the execution is detachable: if it has not finished at
the action's sync timeout the answer is `WAIT` at once, the execution runs on, and
`gateway.waiting` POSTs the final ServiceResponse to the callbackUri later.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.auth import RuntimeUser
from gateway.errors import BadRequest, DeadlineExceeded, ExecutionFailed, GatewayError
from gateway.flow.values import FlowValueError
from gateway.routing import ExecutorPool
from gateway.services import DeployedAction, DeployedService
from gateway.translate import Execution, ExecutionResult

if TYPE_CHECKING:
    from gateway.history import History
    from gateway.waiting import WaitingExecutions

# Request fields that become $flow facts for the process.
_FLOW_FIELDS = ("token", "tenantId", "stateId", "callbackUri")


def parse_service_request(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("request body is empty; expected a Flow ServiceRequest (JSON object)")
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed JSON: {error}", code="malformed_json") from None
    if not isinstance(request, dict):
        raise BadRequest(
            f"body is not a ServiceRequest: expected a JSON object, got {type(request).__name__}",
            code="not_a_service_request",
        )
    for name in ("inputs", "configurationValues", "outcomes"):
        value = request.get(name)
        if value is not None and not isinstance(value, list):
            raise BadRequest(
                f"body is not a ServiceRequest: '{name}' must be a list, "
                f"got {type(value).__name__}",
                code="not_a_service_request",
            )
    return request


def configuration(service: DeployedService, values: list[Any] | None) -> dict[str, str]:
    config: dict[str, str] = {}
    for value in values or ():
        if isinstance(value, dict) and isinstance(value.get("developerName"), str):
            content = value.get("contentValue")
            if content is not None:
                config[value["developerName"]] = str(content)
    for name in service.required_config:
        if not config.get(name):
            raise BadRequest(
                f"configuration value '{name}' is required by service "
                f"'{service.spec.service_path}'",
                code="missing_configuration",
            )
    return config


def flow_facts(request: dict[str, Any], user: RuntimeUser, execution_id: str) -> dict[str, str]:
    """What a process sees as $flow: the request's facts, the runtime user, the execution id."""
    flow = {name: str(request[name]) for name in _FLOW_FIELDS if request.get(name)}
    flow["user"] = user.name
    flow["runtime"] = user.runtime
    flow["execution_id"] = execution_id
    culture = request.get("culture")
    if culture:
        flow["culture"] = orjson.dumps(culture).decode()
    return flow


def build_execution(
    service: DeployedService,
    action: DeployedAction,
    request: dict[str, Any],
    user: RuntimeUser,
    execution_id: str,
    record: bool,
) -> Execution:
    try:
        document = action.request.to_document(request.get("inputs"))
    except FlowValueError as error:
        raise BadRequest(str(error), code="invalid_input") from None
    flow = flow_facts(request, user, execution_id)
    return Execution(
        deployment=service.key,
        process=action.spec.process,
        timeout_ms=service.spec.timeout_ms(
            action.spec.process
        ),  # the gateway's backstop waits for it
        documents=[(orjson.dumps(document), {})],
        config=configuration(service, request.get("configurationValues")),
        flow=flow,
        execution_id=execution_id,
        record=record,
    )


async def run_action(
    pool: ExecutorPool,
    service: DeployedService,
    action: DeployedAction,
    request: dict[str, Any],
    execution: Execution,
    wait_s: float,
    history: History | None = None,
    waiting: WaitingExecutions | None = None,
    flow_user: str = "",
) -> bytes:
    started = time.time()
    callback_uri = request.get("callbackUri")
    sync_s = action.spec.sync_timeout_ms / 1000
    if waiting is not None and isinstance(callback_uri, str) and callback_uri and sync_s:
        waiting.policy.check(service.runtime, callback_uri)
        outcome = await pool.run_detachable(service.runtime, execution, sync_s, wait_s)
        if not isinstance(outcome, ExecutionResult):
            await waiting.detached(service, action, request, execution, outcome, flow_user, started)
            return wait_response(request, outcome.progress or action.spec.wait_message)
        result = outcome
    else:
        result = await pool.run(service.runtime, execution, wait_s)
    if history is not None and history.enabled:
        history.record_result(
            execution.execution_id, action.identity, execution.executor, started, result
        )
    return forward_response(action, request, result)


def forward_response(
    action: DeployedAction, request: dict[str, Any], result: ExecutionResult
) -> bytes:
    """The final ServiceResponse of a finished execution; raises GatewayError when it failed."""
    if result.status != "ok":
        raise _failure(action, result)
    return service_response(
        request,
        "FORWARD",
        outputs=_outputs(action, result),
        outcome=_outcome(action, request, result.outcome),
        faults=result.faults or None,
    )


def wait_response(request: dict[str, Any], message: str) -> bytes:
    """`WAIT`: not finished yet; Flow parks the state and shows the message."""
    return service_response(request, "WAIT", wait_message=message or None)


def fault_response(request: dict[str, Any], error: GatewayError) -> bytes:
    """A callback for an execution that failed: FORWARD with the failure as a root fault."""
    return service_response(request, "FORWARD", faults={error.code: error.message})


def service_response(
    request: dict[str, Any],
    invoke: str,
    *,
    outputs: list[dict[str, Any]] | None = None,
    outcome: str | None = None,
    faults: dict[str, str] | None = None,
    wait_message: str | None = None,
) -> bytes:
    """A Flow ServiceResponse, echoing the request's token, tenant and culture."""
    return orjson.dumps(
        {
            "invokeType": invoke,
            "token": request.get("token"),
            "tenantId": request.get("tenantId"),
            "culture": request.get("culture"),
            "annotations": None,
            "waitMessage": wait_message,
            "outputs": outputs,
            "selectedOutcomeId": outcome,
            "rootFaults": faults,
            "valueFaults": None,
            "mode": None,
        }
    )


def _outputs(action: DeployedAction, result: ExecutionResult) -> list[dict[str, Any]] | None:
    if not result.documents:
        return None
    try:
        return action.response.to_outputs(orjson.loads(result.documents[0][0]))
    except (FlowValueError, orjson.JSONDecodeError) as error:
        raise ExecutionFailed(
            f"process '{action.spec.process}' returned a document that does not fit the "
            f"response profile '{action.spec.response}': {error}",
            code="bad_response_document",
        ) from None


def _outcome(action: DeployedAction, request: dict[str, Any], outcome: str) -> str | None:
    if not outcome:
        return None
    # Prefer the id Flow sent for an outcome of that name; else the id our describe gave it.
    for offered in request.get("outcomes") or ():
        if isinstance(offered, dict) and outcome in (
            offered.get("developerName"),
            offered.get("id"),
        ):
            return str(offered.get("id"))
    known = action.outcome_ids.get(outcome)
    if known is None:
        raise ExecutionFailed(
            f"process '{action.spec.process}' selected outcome '{outcome}', which action "
            f"'{action.spec.name}' does not declare",
            code="unknown_outcome",
        )
    return known


def _failure(action: DeployedAction, result: ExecutionResult) -> GatewayError:
    error = result.error
    where = f" at {error.step_path}" if error and error.step_path else ""
    cause = error.message if error else "no detail"
    process = action.spec.process
    if result.status == "deadline":
        return DeadlineExceeded(
            f"process '{process}' passed its execution deadline{where}: {cause}",
            details={"step": error.step_path if error else ""},
        )
    return ExecutionFailed(
        f"process '{process}' failed{where}: {cause}",
        code=error.code if error and error.code else "execution_failed",
        details={"step": error.step_path if error else ""},
    )
