"""Executions Flow was answered `WAIT` for: follow each to its end and owe Flow a callback.

At WAIT time a `running` row goes into the outbox before Flow gets its answer, so nothing is
lost when the gateway dies afterwards. The result then comes one of two ways:

- the execution stream (the usual case): the `Detached` future resolves, the callback becomes
  due at once;
- `TakeResult` polling, for rows no live stream can resolve: the gateway restarted, or the
  stream broke. The executor keeps a detached result until the gateway acknowledges it
  (`AckResult`), which it does only after the outbox holds the callback.

An executor that restarted has lost what it was running; its rows get a failure callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson

from gateway.callbacks.outbox import Callback, Outbox, Waiting
from gateway.callbacks.policy import CallbackPolicy
from gateway.callbacks.sender import CallbackSender
from gateway.errors import GatewayError, Unavailable
from gateway.executor_client import Detached
from gateway.flow import responses
from gateway.history.record import History, Summary
from gateway.lifecycle import Lifecycle
from gateway.periodic import Periodic
from gateway.routing import ExecutorPool
from gateway.services import DeployedAction, DeployedService, ServiceRegistry
from gateway.translate import Execution, ExecutionError, ExecutionResult

log = logging.getLogger("flowhost.gateway")

# Request fields a callback echoes; kept with the row so a restarted gateway can answer.
_ECHOED = ("token", "tenantId", "culture", "outcomes")
# An executor that says it does not know an execution is believed after this long (a result
# may still be on its way through the stream just after detaching).
_UNKNOWN_GRACE_S = 10.0
#: An execution whose executor cannot be asked (gone, not answering) is given up this long after
#: its deadline: Flow gets an `executor_lost` fault then, not never (issue 19). The executor
#: ends the execution at its deadline itself; the grace covers an executor restarting or a
#: result on its way. A result arriving later finds its callback already answered.
EXECUTOR_LOST_GRACE_S = 5.0


class WaitingExecutions(Lifecycle):
    def __init__(
        self,
        pool: ExecutorPool,
        registry: ServiceRegistry,
        outbox: Outbox,
        sender: CallbackSender,
        history: History,
        policy: CallbackPolicy,
        *,
        poll_interval_s: float,
        wait_s: float,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._outbox = outbox
        self._sender = sender
        self._history = history
        self.policy = policy
        self._poll_interval_s = poll_interval_s
        self._wait_s = wait_s
        self._held: set[str] = set()  # followed through a live stream by this gateway
        #: WAIT answers given, by runtime (gateway/metrics reads it at scrape time).
        self.waits: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller = Periodic("waiting executions", self.poll_once, poll_interval_s)

    @property
    def following(self) -> int:
        """Detached executions this gateway follows through a live stream."""
        return len(self._held)

    async def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- at WAIT time -------------------------------------------------------------------------

    async def detached(
        self,
        service: DeployedService,
        action: DeployedAction,
        request: dict[str, Any],
        execution: Execution,
        detached: Detached,
        flow_user: str,
        started: float,
    ) -> None:
        """Record the owed callback durably, then follow the execution to its end."""
        connection = detached.connection
        waiting = Waiting(
            execution_id=execution.execution_id,
            runtime=service.runtime,
            service_path=service.spec.service_path.strip("/"),
            action=action.spec.name,
            deployment=service.key,
            process=execution.process,
            executor=connection.address,
            executor_id=connection.info.executor_id if connection.info else "",
            callback_uri=str(request["callbackUri"]),
            tenant_id=str(request.get("tenantId") or ""),
            flow_user=flow_user,
            request=orjson.dumps({k: request.get(k) for k in _ECHOED}).decode(),
            started_at=started,
        )
        self._held.add(waiting.execution_id)
        try:
            await asyncio.to_thread(
                self._outbox.add_running, waiting, time.time() + self._poll_interval_s
            )
        except Exception:
            self._held.discard(waiting.execution_id)
            detached.cancel()
            log.exception("execution %s: cannot record the callback", execution.execution_id)
            raise Unavailable(
                "cannot record the callback this execution owes Flow; it was cancelled",
                code="outbox_unavailable",
            ) from None
        self.waits[service.runtime] = self.waits.get(service.runtime, 0) + 1
        log.info(
            "execution %s: answered WAIT after the sync timeout; the result will go to %s",
            waiting.execution_id,
            waiting.callback_uri,
        )
        detached.on_progress = lambda message: self._spawn(
            self._progress(waiting.execution_id, request, message)
        )
        self._spawn(self._follow(waiting, service, action, request, execution, detached))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _progress(self, execution_id: str, request: dict[str, Any], message: str) -> None:
        body = responses.wait_response(request, message).decode()
        if await asyncio.to_thread(self._outbox.progress, execution_id, body):
            self._sender.wake()

    async def _follow(
        self,
        waiting: Waiting,
        service: DeployedService,
        action: DeployedAction,
        request: dict[str, Any],
        execution: Execution,
        detached: Detached,
    ) -> None:
        execution_id = waiting.execution_id
        remaining = max(0.0, waiting.started_at + self._wait_s - time.time())
        try:
            result = await asyncio.wait_for(asyncio.shield(detached.result), remaining)
        except TimeoutError:
            detached.cancel()
            result = ExecutionResult(
                "deadline",
                [],
                error=ExecutionError(
                    "deadline_exceeded",
                    f"process '{execution.process}' did not finish within {self._wait_s:g}s",
                ),
            )
        except Exception as error:  # the stream broke: the poller takes it from the executor
            log.info("execution %s: stream lost (%s); will poll its executor", execution_id, error)
            self._held.discard(execution_id)
            await asyncio.to_thread(self._outbox.postpone, execution_id, time.time())
            return
        self._held.discard(execution_id)
        body = _final_body(action, request, result)
        await self._complete(execution_id, body, service, action, execution, result, waiting)

    async def _complete(
        self,
        execution_id: str,
        body: bytes,
        service: DeployedService | None,
        action: DeployedAction | None,
        execution: Execution | None,
        result: ExecutionResult | None,
        waiting: Waiting | Callback,
    ) -> None:
        stored = await asyncio.to_thread(self._outbox.complete, execution_id, body.decode())
        if stored:
            self._sender.wake()
            self._record(waiting, result, execution)
        connection = self._pool.connections.get(waiting.executor)
        if connection is not None and result is not None:
            with contextlib.suppress(Exception):
                await connection.ack_result(execution_id)

    def _record(
        self,
        waiting: Waiting | Callback,
        result: ExecutionResult | None,
        execution: Execution | None,
    ) -> None:
        name, _, version = waiting.deployment.partition("@")
        started = waiting.started_at
        identity = (waiting.runtime, name, version, waiting.process, waiting.action)
        self._history.record(
            Summary(
                waiting.execution_id,
                identity,
                waiting.executor,
                started,
                "WAIT",
                result,
                "" if result else "the executor was lost before the execution finished",
                duration_ms=(time.time() - started) * 1000,  # used only when the result is lost
            )
        )

    # -- polling, for executions no live stream will finish ----------------------------------

    async def poll_once(self) -> None:
        now = time.time()
        rows = await asyncio.to_thread(self._outbox.running_due, now, 100)
        for row in rows:
            execution_id = row.id
            next_at = now + self._poll_interval_s
            if execution_id in self._held:
                await asyncio.to_thread(self._outbox.postpone, execution_id, next_at)
                continue
            await self._poll_row(row, now, next_at)

    async def _poll_row(self, row: Callback, now: float, next_at: float) -> None:
        execution_id = row.id
        connection = self._pool.connections.get(row.executor)
        kept = None
        problem = ""
        if connection is None:
            problem = f"executor {row.executor} is not connected"
        else:
            try:
                kept = await connection.take_result(execution_id)
            except Exception as error:
                problem = f"executor {row.executor} did not answer: {error}"[:300]
        if kept is not None and kept.state == "done" and kept.result is not None:
            await self._complete_row(row, kept.result)
        elif kept is not None and kept.state == "running":
            await asyncio.to_thread(self._outbox.postpone, execution_id, next_at)
        elif (
            kept is not None
            and (kept.executor_id != row.executor_id or now - row.created_at > _UNKNOWN_GRACE_S)
        ) or now > self._given_up_at(row):
            # The executor restarted (or never kept it), or it is still unreachable past the
            # execution's deadline: the result is lost.
            await self._complete_row(row, None)
        else:
            await asyncio.to_thread(self._outbox.postpone, execution_id, next_at, problem)

    def _given_up_at(self, row: Callback) -> float:
        """The execution's deadline (its process's timeout, else the gateway's) plus the grace."""
        service = self._service(row)
        timeout_ms = service.spec.timeout_ms(row.process) if service is not None else 0
        deadline_s = timeout_ms / 1000 if timeout_ms else self._wait_s
        return float(row.started_at) + deadline_s + EXECUTOR_LOST_GRACE_S

    def _service(self, row: Callback) -> DeployedService | None:
        """The version the execution started on (a canary, or one kept for its owed WAITs),
        else whatever serves its path now."""
        return self._registry.version(row.runtime, row.deployment) or self._registry.lookup(
            row.runtime, row.service_path
        )

    async def _complete_row(self, row: Callback, result: ExecutionResult | None) -> None:
        request = orjson.loads(row.request)
        service = self._service(row)
        action = service.actions.get(row.action) if service is not None else None
        if result is None:
            lost = Unavailable(
                f"the executor running process '{row.process}' was lost before it finished; "
                "it may or may not have completed",
                code="executor_lost",
            )
            body = responses.fault_response(request, lost)
        elif action is None:
            gone = GatewayError(
                f"action '{row.action}' of {row.deployment} is no longer deployed in "
                f"runtime '{row.runtime}'; its result cannot be translated",
                code="undeployed",
            )
            body = responses.fault_response(request, gone)
        else:
            body = _final_body(action, request, result)
        await self._complete(row.id, body, service, action, None, result, row)


def _final_body(action: DeployedAction, request: dict[str, Any], result: ExecutionResult) -> bytes:
    try:
        return responses.forward_response(action, request, result)
    except GatewayError as error:
        return responses.fault_response(request, error)
