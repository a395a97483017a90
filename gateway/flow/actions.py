"""Message actions: a Flow ServiceRequest in, a process run on an executor, a ServiceResponse
out.

When the request carries a `callbackUri` the execution is detachable: if it has not finished at
the action's sync timeout the answer is `WAIT` at once, the execution runs on, and
`gateway.callbacks.waiting` POSTs the final ServiceResponse to the callbackUri later.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.admission import Admitted
from gateway.auth import RuntimeUser
from gateway.configuration.values import RuntimeConfig
from gateway.errors import BadRequest, Unavailable
from gateway.flow import responses
from gateway.flow.bodies import parse_json
from gateway.flow.values import FlowValueError
from gateway.routing import ExecutorPool
from gateway.services import DeployedAction, DeployedService
from gateway.translate import Execution, ExecutionResult

if TYPE_CHECKING:
    from gateway.callbacks.waiting import WaitingExecutions
    from gateway.history.record import History

# Request fields that become $flow facts for the process.
_FLOW_FIELDS = ("token", "tenantId", "stateId", "callbackUri")


def parse_service_request(body: bytes) -> dict[str, Any]:
    request = parse_json(body, "ServiceRequest")
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


def configuration(
    service: DeployedService, values: list[Any] | None, operator: RuntimeConfig, tenant: Any
) -> tuple[dict[str, str], tuple[str, ...]]:
    """A request's $config, and the names of its secret values.

    Package default (filled in by the executor) <- the operator's value for the runtime <- the
    operator's value for (runtime, tenant) <- Flow's value, for values the package lets Flow
    set. Flow's value for an operator-only one is refused, naming it; values the package does
    not declare are ignored.
    """
    config = operator.for_service(service.declared_config, tenant)
    for value in values or ():
        if not isinstance(value, dict):
            continue
        name = value.get("developerName")
        content = value.get("contentValue")
        if not isinstance(name, str) or content is None:
            continue
        if name in service.flow_config:
            config[name] = str(content)
        elif name in service.declared_config and content != "":
            raise BadRequest(
                f"configuration value '{name}' of service '{service.spec.service_path}' is set "
                "by the runtime's operator, not by Flow: remove it from the connector's "
                "configuration values",
                code="operator_configuration",
                details={"configuration_value": name},
            )
    for name in operator.undecryptable & service.declared_config if operator.undecryptable else ():
        raise Unavailable(
            f"configuration value '{name}' of runtime '{service.runtime}' cannot be decrypted "
            "with the gateway's configuration key; the operator must fix FLOWHOST_CONFIG_KEY",
            code="undecryptable_configuration",
        )
    for name in service.required_config:
        if not config.get(name):
            who = (
                ""
                if name in service.flow_config
                else f" and set by the runtime's operator (flowhost config set {name} "
                f"VALUE --runtime {service.runtime})"
            )
            raise BadRequest(
                f"configuration value '{name}' is required by service "
                f"'{service.spec.service_path}'{who}",
                code="missing_configuration",
            )
    secrets = tuple(sorted(operator.secrets & service.declared_config)) if operator.secrets else ()
    return config, secrets


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
    operator: RuntimeConfig,
) -> Execution:
    try:
        document = action.request.to_document(request.get("inputs"))
    except FlowValueError as error:
        raise BadRequest(str(error), code="invalid_input") from None
    flow = flow_facts(request, user, execution_id)
    config, secrets = configuration(
        service, request.get("configurationValues"), operator, request.get("tenantId")
    )
    return Execution(
        deployment=service.key,
        process=action.spec.process,
        timeout_ms=service.spec.timeout_ms(
            action.spec.process
        ),  # the gateway's backstop waits for it
        documents=[(orjson.dumps(document), {})],
        config=config,
        flow=flow,
        execution_id=execution_id,
        record=record,
        secret_config=secrets,
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
    admitted: Admitted | None = None,
) -> bytes:
    started = time.time()
    callback_uri = request.get("callbackUri")
    sync_s = action.spec.sync_timeout_ms / 1000
    if waiting is not None:
        waiting.policy.check_request(request)
    if waiting is not None and isinstance(callback_uri, str) and callback_uri and sync_s:
        await waiting.policy.check(service.runtime, callback_uri)
        if admitted is not None:
            admitted.check_detachable()
        outcome = await pool.run_detachable(service.runtime, execution, sync_s, wait_s)
        if not isinstance(outcome, ExecutionResult):
            ended = admitted.detach() if admitted is not None else None
            await waiting.detached(
                service, action, request, execution, outcome, flow_user, started, ended
            )
            return responses.wait_response(request, outcome.progress or action.spec.wait_message)
        result = outcome
    else:
        result = await pool.run(service.runtime, execution, wait_s)
    if history is not None and history.enabled:
        history.record_result(
            execution.execution_id, action.identity, execution.executor, started, result
        )
    return responses.forward_response(action, request, result)
