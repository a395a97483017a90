"""Run one trigger's process: an execution like a Flow request's, recorded and counted.

Every kind of trigger comes here, so each one gets the same configuration (operator values over
package defaults), the same history row (kind webhook/schedule/subscribe, the trigger's name
where a Flow execution has its action) and the same listener counters and pause.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.configuration.values import OperatorConfig
from gateway.errors import GatewayError
from gateway.execution_ids import ExecutionIds
from gateway.flow.actions import configuration
from gateway.history.record import History
from gateway.listeners.state import Listener, Listeners
from gateway.routing import ExecutorPool
from gateway.services import DeployedService
from gateway.spec import TriggerSpec
from gateway.translate import Execution, ExecutionResult

__all__ = ["Fired", "TriggerRunner", "listener_path"]


def listener_path(service: DeployedService, trigger: TriggerSpec) -> str:
    """A trigger's listener, next to its service's: `<service path>#<trigger name>` (`#` is in
    no service path, so the two never meet)."""
    return f"{service.spec.service_path.strip('/')}#{trigger.name}"


@dataclass(frozen=True, slots=True)
class Fired:
    execution_id: str
    result: ExecutionResult


class TriggerRunner:
    """What every trigger kind runs its process through."""

    def __init__(
        self,
        pool: ExecutorPool,
        history: History,
        listeners: Listeners,
        operator: OperatorConfig,
        wait_s: float,
    ) -> None:
        self._pool = pool
        self._history = history
        self._operator = operator
        self._wait_s = wait_s
        self.listeners = listeners
        self.new_execution_id = ExecutionIds()
        #: Last fire per listener (runtime, path): epoch seconds, for `flowhost status`.
        self.last_fired: dict[tuple[str, str], float] = {}
        #: Executions by (runtime, package, trigger, kind, status), for gateway/metrics/;
        #: status `not_run` when no executor could take one.
        self.counts: dict[tuple[str, str, str, str, str], int] = {}

    def ready(self, service: DeployedService) -> bool:
        """Whether an executor of the runtime hosts the version now (a schedule does not take
        a due time it cannot run: just after start the executors are still being deployed)."""
        return self._pool.pick(service.runtime, service.key, set()) is not None

    def listener(self, service: DeployedService, trigger: TriggerSpec) -> Listener:
        return self.listeners.of(service.runtime, listener_path(service, trigger))

    def config_value(self, service: DeployedService, name: str) -> str:
        """A configuration value as a trigger needs it (a broker URL, a webhook secret): the
        operator's value for the runtime, else the package default."""
        values = self._operator.of(service.runtime).for_service(service.declared_config, None)
        if values.get(name):
            return values[name]
        declared = next((c for c in service.spec.configuration if c.name == name), None)
        return declared.default if declared is not None else ""

    def execution(
        self,
        service: DeployedService,
        trigger: TriggerSpec,
        document: bytes,
        properties: dict[str, str],
        user: str = "",
    ) -> Execution:
        execution_id = self.new_execution_id()
        config, secrets = configuration(service, None, self._operator.of(service.runtime), None)
        flow = {
            "runtime": service.runtime,
            "user": user,
            "execution_id": execution_id,
            "trigger": trigger.name,
            "trigger_kind": trigger.kind,
        }
        return Execution(
            deployment=service.key,
            process=trigger.process,
            documents=[(document, properties)],
            config=config,
            flow=flow,
            timeout_ms=service.spec.timeout_ms(trigger.process),
            execution_id=execution_id,
            secret_config=secrets,
        )

    async def run(
        self, service: DeployedService, trigger: TriggerSpec, execution: Execution
    ) -> Fired:
        """Run it on an executor of the runtime; a GatewayError when none could take it."""
        listener = self.listener(service, trigger)
        listener.requests += 1
        started = time.time()
        self.last_fired[(service.runtime, listener_path(service, trigger))] = started
        labels = (service.runtime, service.spec.name, trigger.name, trigger.kind)
        try:
            result = await self._pool.run(service.runtime, execution, self._wait_s)
        except GatewayError as error:
            listener.failed(error)
            self._count((*labels, "not_run"))
            raise
        self._count((*labels, result.status))
        if result.status != "ok":
            listener.errors += 1
        if self._history.enabled:
            spec = service.spec
            identity = (service.runtime, spec.name, spec.version, trigger.process, trigger.name)
            self._history.record_result(
                execution.execution_id, identity, execution.executor, started, result, trigger.kind
            )
        return Fired(execution.execution_id, result)

    def _count(self, key: tuple[str, str, str, str, str]) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
