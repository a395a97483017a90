"""The engine: a compiled package and ``run``, which executes one process to a result."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import egress
from .answers import Answers
from .configuration import convert_config_value
from .context import (
    ProcessPlan,
    RunContext,
    StepHook,
    StepTrace,
    StopExecution,
    TracedRunContext,
)
from .deadline import Deadline
from .documents import Document
from .errors import FlowhostRuntimeError, StepFailure
from .limits import limit_exceeded
from .listfilter import DataRequest, DataType
from .package import Package, compile_processes
from .policy import ExecutionLimits, RuntimePolicy
from .redaction import ACTIVE, Redactor

log = logging.getLogger(__name__)

__all__ = ["CompiledPackage", "ExecutionFailure", "ProcessResult", "StepTrace"]

#: One instance: building a frozen dataclass per run cost ~2 µs of a ~20 µs quote run.
_DEFAULT_POLICY = RuntimePolicy()


@dataclass
class ExecutionFailure:
    """Why an execution did not finish: a code, a message without traceback, the step's path."""

    code: str
    message: str
    step_path: str
    retryable: bool


@dataclass
class ProcessResult:
    """The outcome of one execution."""

    status: str  # "ok" | "failed" | "deadline"
    documents: list[Document] = field(default_factory=list)
    outcome: str | None = None
    faults: dict[str, str] = field(default_factory=dict)
    error: ExecutionFailure | None = None
    trace: list[StepTrace] = field(default_factory=list)
    duration_us: int = 0


class CompiledPackage:
    """A package ready to run: every jq program compiled, every step resolved."""

    def __init__(
        self,
        package: Package,
        plans: dict[str, ProcessPlan],
        http: httpx.AsyncClient | None,
    ):
        self.package = package
        self._plans = plans
        self._http = http
        self._owns_http = False
        self._config_defaults: dict[str, Any] = {}
        self._config_types = {c.name: c.type for c in package.service.configuration}
        self._password_names = frozenset(
            c.name for c in package.service.configuration if c.type == "password"
        )
        self._default_texts = {c.name: c.default for c in package.service.configuration}
        for item in package.service.configuration:
            if item.default:
                self._config_defaults[item.name] = convert_config_value(item.type, item.default)
        self.data_types = {
            d.type: build_data_type(d.type, package.service.profiles.get(d.profile), d.id)
            for d in package.service.data
        }

    @classmethod
    def compile(cls, package: Package, http: httpx.AsyncClient | None = None) -> CompiledPackage:
        """Compile a package (raises ``PackageInvalid``).

        ``http`` is the shared client the ``http`` step uses; without one, a default client is
        created on first use and closed by ``aclose``.
        """
        plans = package._plans if package._plans is not None else compile_processes(package)
        return cls(package, plans, http)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = egress.guarded_client()
            self._owns_http = True
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._owns_http = False

    def config_values(self, config: dict[str, str] | None) -> dict[str, Any]:
        """``$config``: declared types applied, defaults filled in; raises ValueError."""
        values = dict(self._config_defaults)
        for name, text in (config or {}).items():
            kind = self._config_types.get(name, "string")
            try:
                values[name] = convert_config_value(kind, text)
            except ValueError as error:
                raise ValueError(f"configuration value {name!r}: {error}") from None
        return values

    def redactor(
        self, config: dict[str, str] | None, secret_config: Iterable[str] = ()
    ) -> Redactor | None:
        """What masks this execution's secrets: its `password` values and `secret_config`'s."""
        names = self._password_names.union(secret_config)
        if not names:
            return None
        given = config or {}
        texts = [
            text for name in names for text in (given.get(name), self._default_texts.get(name))
        ]
        redactor = Redactor(text for text in texts if text)
        return redactor if redactor else None

    async def run(
        self,
        process: str,
        documents: list[Document],
        *,
        props: dict[str, str] | None = None,
        config: dict[str, str] | None = None,
        flow: dict[str, str] | None = None,
        timeout_s: float | None = None,
        execution_id: str = "",
        record: bool = False,
        data_type: str = "",
        list_filter: dict[str, Any] | None = None,
        secret_config: Iterable[str] = (),
        policy: RuntimePolicy | None = None,
        step_hook: StepHook | None = None,
        answers: Answers | None = None,
    ) -> ProcessResult:
        """Run ``process`` over ``documents``.

        ``policy`` is the runtime's policy (files root, databases, egress, limits); without one
        the defaults of ``RuntimePolicy()`` apply.

        ``data_type`` names the data action the run serves (``db`` and ``flow_filter`` use its
        profile) and ``list_filter`` is Flow's list filter as the gateway normalised it.
        ``secret_config`` names configuration values that are secret besides the package's
        ``password`` ones: their values are masked in the result's error and trace, in ``log``
        lines and in every log record written while the execution runs (redaction.py).
        ``policy`` is the runtime's (its ``limits`` bound the execution); default: the defaults.
        ``step_hook`` wraps every step (a tracing span: executors/tracing.py).
        ``answers`` answers the steps' outside calls instead of the network: package tests
        (executors/package_test_runner.py) set it, production never does (answers.py).

        Never raises for a process problem: failures, deadlines and unknown processes come back
        as the result's status and error. Cancelling the calling task propagates.
        """
        start = time.perf_counter_ns()
        plan = self._plans.get(process)
        if plan is None:
            unknown = ExecutionFailure(
                "unknown_process", f"no process named {process!r} in package", "", False
            )
            return ProcessResult("failed", error=unknown, duration_us=_since(start))
        redactor = self.redactor(config, secret_config)
        try:
            config_values = self.config_values(config)
        except ValueError as problem:
            message = redactor.text(str(problem)) if redactor else str(problem)
            invalid = ExecutionFailure("invalid_config", message, "", False)
            return ProcessResult("failed", error=invalid, duration_us=_since(start))
        flow_values = dict(flow or {})
        flow_values.setdefault("execution_id", execution_id)
        data = None
        if data_type:
            dtype = self.data_types.get(data_type)
            if dtype is None:
                unknown = ExecutionFailure(
                    "unknown_type", f"no data action for type {data_type!r} in package", "", False
                )
                return ProcessResult("failed", error=unknown, duration_us=_since(start))
            data = DataRequest(dtype, dict(list_filter or {}))
        ctx = (RunContext if step_hook is None else TracedRunContext)(
            processes=self._plans,
            http=self._client,
            props=dict(props or {}),
            config=config_values,
            flow=flow_values,
            execution_id=execution_id,
            record=record or plan.mode == "general",
            data=data,
            redactor=redactor,
            policy=policy or _DEFAULT_POLICY,
            answers=answers,
        )
        if isinstance(ctx, TracedRunContext):
            ctx.step_hook = step_hook  # type: ignore[assignment]  # set when traced
        timeout = plan.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        ctx.deadline = loop.time() + timeout
        deadline = Deadline(loop, ctx.deadline)
        # The HTTP client's network backend checks connections against this run's policy.
        policy_token = egress.set_current(ctx.policy)
        status = "ok"
        error: ExecutionFailure | None = None
        active = ACTIVE.set(redactor) if redactor is not None else None
        try:
            try:
                await ctx.run_steps(plan.steps, documents)
            except asyncio.CancelledError:
                if not deadline.passed():
                    raise
                raise TimeoutError from None
        except StopExecution:
            pass
        except StepFailure as failure:
            status = "failed"
            error = ExecutionFailure(
                failure.code, failure.message, failure.step_path, failure.retryable
            )
        except TimeoutError:
            status = "deadline"
            node = ctx.interrupted
            where = f" while running the {node.type} step" if node else ""
            error = ExecutionFailure(
                "deadline_exceeded",
                f"deadline of {timeout:g}s exceeded{where}",
                node.path if node else "",
                False,
            )
        except FlowhostRuntimeError as failure:  # raised outside any step
            status = "failed"
            error = ExecutionFailure(failure.code, failure.message, "", failure.retryable)
        finally:
            deadline.end()
            egress.reset_current(policy_token)
            if active is not None:
                ACTIVE.reset(active)
        if redactor is not None:
            _redact(redactor, error, ctx.trace)
        results = ctx.frame.documents
        if error is None and results:
            error = _oversized(results, ctx.policy.limits)
            if error is not None:
                status = "failed"
        return ProcessResult(
            status=status,
            documents=ctx.frame.documents,
            outcome=ctx.frame.outcome,
            faults=ctx.frame.faults,
            error=error,
            trace=ctx.trace,
            duration_us=_since(start),
        )


def _redact(redactor: Redactor, error: ExecutionFailure | None, trace: list[StepTrace]) -> None:
    if error is not None:
        error.message = redactor.text(error.message)
    for step in trace:
        if step.error:
            step.error = redactor.text(step.error)
        if step.inputs is not None:
            step.inputs = [redactor.data(raw) for raw in step.inputs]
        if step.outputs is not None:
            step.outputs = [redactor.data(raw) for raw in step.outputs]


def _oversized(documents: list[Document], limits: ExecutionLimits) -> ExecutionFailure | None:
    """The returned documents past ``document_bytes`` or ``execution_bytes``, as a failure.

    Their bytes are what the executor sends anyway (cached on the document), so this costs a
    length per document (measured: ~0.5 µs of a 12 µs quote run, scripts/engine_ab.py)."""
    sizes = [len(document.raw) for document in documents]
    if max(sizes) <= limits.document_bytes and sum(sizes) <= limits.execution_bytes:
        return None
    if max(sizes) > limits.document_bytes:
        failure = limit_exceeded("document_bytes", limits.document_bytes, "a result is larger")
    else:
        failure = limit_exceeded(
            "execution_bytes", limits.execution_bytes, "the results are larger"
        )
    return ExecutionFailure(failure.code, failure.message, "", False)


def build_data_type(name: str, profile: dict[str, Any] | None, id_property: str) -> DataType:
    """A data action's type: the profile's scalar properties (its columns) and the id."""
    columns: dict[str, str] = {}
    for prop, schema in ((profile or {}).get("properties") or {}).items():
        kind = _scalar_kind(schema)
        if kind is not None:
            columns[str(prop)] = kind
    return DataType(name, columns, id_property)


def _scalar_kind(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind == "string":
        return "datetime" if schema.get("format") == "date-time" else "string"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    return None


def _since(start_ns: int) -> int:
    return (time.perf_counter_ns() - start_ns) // 1000
