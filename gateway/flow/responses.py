"""Flow ServiceResponses: FORWARD with a finished execution's outputs, WAIT, and a failure as
a root fault. Message actions answer with them at once; gateway/callbacks/waiting.py in
callbacks."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import ExecutionFailed, GatewayError
from gateway.flow.failures import failure
from gateway.flow.values import FlowValueError
from gateway.services import DeployedAction
from gateway.translate import ExecutionResult


def forward_response(
    action: DeployedAction, request: dict[str, Any], result: ExecutionResult
) -> bytes:
    """The final ServiceResponse of a finished execution; raises GatewayError when it failed."""
    if result.status != "ok":
        raise failure(action.spec.process, result)
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
