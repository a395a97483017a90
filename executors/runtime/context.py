"""One execution's state and the loop that runs steps over documents."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from .errors import StepError, StepFailure
from .expressions import VARIABLE_KEYS
from .policy import RuntimePolicy

if TYPE_CHECKING:
    import httpx

    from .answers import Answers
    from .documents import Document
    from .listfilter import DataRequest
    from .redaction import Redactor

log = logging.getLogger("flowhost.process")

#: Built once: a RuntimePolicy() per execution was a measured 3.6 us (scripts/engine_ab.py).
_DEFAULT_POLICY = RuntimePolicy()

#: Recorded documents are cut at this size.
RECORD_LIMIT = 64 * 1024
#: Recursion through `call` is bounded by the deadline. Past this depth each further call first
#: waits 1 ms per level beyond it, so a runaway recursion holds little memory until its deadline
#: fires (reaching 1,000 levels beyond takes ~8 minutes), while real recursion is not slowed.
CALL_BRAKE_DEPTH = 1000
#: A last guard for deadlines long enough to get this deep.
MAX_CALL_DEPTH = 10_000
#: Every this many nested calls, the callee runs in a fresh task: a task starts with an empty
#: Python stack, so deep recursion cannot overflow it.
CALL_TASK_EVERY = 16
#: At most this many steps are traced per execution (a long recursion would fill memory).
TRACE_LIMIT = 10_000
#: Yield to the event loop every this many steps so deadlines and cancellation can fire.
YIELD_EVERY = 32


@dataclass
class StepTrace:
    """What one step did: filled in as it runs, in the order steps started."""

    path: str
    type: str
    duration_us: int
    documents_in: int
    documents_out: int
    error: str = ""
    inputs: list[bytes] | None = None
    outputs: list[bytes] | None = None


@dataclass
class Frame:
    """Where `return` puts documents: the execution's result, or a `call` step's output."""

    documents: list[Document] = field(default_factory=list)
    outcome: str | None = None
    faults: dict[str, str] = field(default_factory=dict)


class StopExecution(Exception):
    """Raised by the `stop` step; ends the whole execution successfully."""


# The step protocol lives here, with what runs it, so that compile.py (which builds StepNodes)
# imports this module and never the other way round (issue 13: the compile <-> context circle).
class Step(Protocol):
    """A compiled step: takes the current documents, gives the next ones."""

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]: ...


@dataclass(slots=True)
class StepNode:
    """A compiled step in place: where it is, what type it is, what it runs."""

    path: str
    type: str
    name: str
    step: Step


@dataclass(frozen=True)
class ProcessPlan:
    """A compiled process."""

    name: str
    mode: str
    timeout_s: float
    steps: list[StepNode]


class RunContext:
    """Everything a running step may use.

    ``props`` is the process properties dict, shared by the whole execution (including `call`ed
    processes); change it through ``set_prop`` so jq programs see the change.
    """

    def __init__(
        self,
        *,
        processes: Mapping[str, ProcessPlan],
        http: Callable[[], httpx.AsyncClient],
        props: dict[str, Any],
        config: dict[str, Any],
        flow: dict[str, str],
        execution_id: str,
        record: bool,
        data: DataRequest | None = None,
        redactor: Redactor | None = None,
        policy: RuntimePolicy | None = None,
        answers: Answers | None = None,
    ):
        self.processes = processes
        #: A package test's canned answers for outside calls (answers.py); None in production.
        self.answers = answers
        #: Masks the execution's secret configuration values (None: it has none).
        self.redactor = redactor
        #: What the runtime's operator allows: files root, databases, egress, and the limits
        #: (``policy.limits.split_fanout``, ...) this execution runs within.
        self.policy = policy if policy is not None else _DEFAULT_POLICY
        #: The data action or file resource this execution serves (its type and list filter).
        self.data = data
        self._http = http
        self.props = props
        self.config = config
        self.flow = flow
        self.execution_id = execution_id
        self.record = record
        self.trace: list[StepTrace] = []
        self.frame = Frame()
        self.depth = 0
        #: The step that was running when the execution was interrupted (deadline, cancel).
        self.interrupted: StepNode | None = None
        #: When the execution's deadline fires, on the event loop's clock (None: no deadline).
        #: Steps that would wait (``http``'s Retry-After) give up early rather than past it.
        self.deadline: float | None = None
        self._steps_run = 0
        # Encoded variables for jq, made on first use; props again after each change.
        self._encoded: dict[str, bytes] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared HTTP client (pooled connections)."""
        return self._http()

    # jq ------------------------------------------------------------------------------------

    def jq_input(self, document: Document, variables: tuple[str, ...]) -> str:
        """The JSON text a jq program binding `variables` runs on (see expressions.py)."""
        if not variables:
            return document.raw.decode()
        parts = [b"{"]
        encoded = self._encoded
        for name in variables:
            if name == "docprops":
                value = orjson.dumps(document.properties)
            else:
                value = encoded.get(name) or encoded.setdefault(name, self._encode(name))
            parts += (b'"', VARIABLE_KEYS[name].encode(), b'":', value, b",")
        parts += (b'"d":', document.raw, b"}")
        return b"".join(parts).decode()

    def jq_variable(self, name: str, document: Document) -> Any:
        """``$name`` for the jq subset that runs in Python (expressions.py)."""
        if name == "docprops":
            return document.properties
        return self._execution_variable(name)

    def _execution_variable(self, name: str) -> dict[str, Any]:
        return {"config": self.config, "flow": self.flow, "props": self.props}[name]

    def _encode(self, name: str) -> bytes:
        return orjson.dumps(self._execution_variable(name))

    def set_prop(self, name: str, value: Any) -> None:
        """Set (or with None, remove) a process property."""
        if value is None:
            self.props.pop(name, None)
        else:
            self.props[name] = value
        self._encoded.pop("props", None)

    # running steps -------------------------------------------------------------------------

    async def run_steps(self, nodes: list[StepNode], documents: list[Document]) -> list[Document]:
        """Run steps in order; stop early when no documents are left (the path ends)."""
        for node in nodes:
            if not documents:
                break
            self._steps_run += 1
            if self._steps_run % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            documents = await self.run_step(node, documents)
        return documents

    async def run_step(self, node: StepNode, documents: list[Document]) -> list[Document]:
        trace = StepTrace(node.path, node.type, 0, len(documents), 0)
        if len(self.trace) < TRACE_LIMIT:
            self.trace.append(trace)
        if self.record:
            trace.inputs = [document.raw for document in documents]
        start = time.perf_counter_ns()
        try:
            output = await node.step.run(documents, self)
        except StepFailure as nested:  # already placed by a nested step
            trace.error = nested.message
            raise
        except StopExecution:
            raise
        except StepError as step_error:
            failure = StepFailure(
                f"{node.type} step: {step_error.message}",
                code=step_error.code,
                retryable=step_error.retryable,
                step_path=node.path,
                step_type=node.type,
            )
            trace.error = failure.message
            raise failure from step_error
        except asyncio.CancelledError:
            if self.interrupted is None:
                self.interrupted = node
            trace.error = "interrupted"
            raise
        except Exception as error:
            log.debug("execution %s: %s failed", self.execution_id, node.path, exc_info=True)
            cause = str(error) or type(error).__name__
            failure = StepFailure(
                f"{node.type} step: {cause}",
                code="step_failed",
                retryable=False,
                step_path=node.path,
                step_type=node.type,
            )
            trace.error = failure.message
            raise failure from error
        finally:
            trace.duration_us = (time.perf_counter_ns() - start) // 1000
        trace.documents_out = len(output)
        if self.record:
            trace.outputs = [document.raw for document in output]
        return output

    async def call(self, process: str, documents: list[Document]) -> list[Document]:
        """Run another process of the package on ``documents``; give what it returned."""
        plan = self.processes.get(process)
        if plan is None:
            raise StepError(f"no process named {process!r}")
        if self.depth >= MAX_CALL_DEPTH:
            raise StepError(
                f"calls nested deeper than {MAX_CALL_DEPTH} (runaway recursion?)",
                code="call_depth",
            )
        if self.depth > CALL_BRAKE_DEPTH:
            await asyncio.sleep((self.depth - CALL_BRAKE_DEPTH) / 1000)
        outer = self.frame
        self.frame = Frame()
        self.depth += 1
        try:
            if self.depth % CALL_TASK_EVERY == 0:
                # Cancelling this task (deadline) cancels the awaited one too.
                await asyncio.create_task(self.run_steps(plan.steps, documents))
            else:
                await self.run_steps(plan.steps, documents)
            return self.frame.documents
        finally:
            self.depth -= 1
            self.frame = outer

    def return_documents(
        self, documents: list[Document], outcome: str | None, faults: dict[str, str]
    ) -> None:
        """Hand documents to the current frame (the result, or the calling step)."""
        self.frame.documents.extend(documents)
        if outcome is not None:
            self.frame.outcome = outcome
        self.frame.faults.update(faults)

    def stop(self) -> None:
        raise StopExecution

    def log(self, level: int, message: str) -> None:
        if self.redactor is not None:
            message = self.redactor.text(message)
        log.log(level, "execution %s: %s", self.execution_id or "-", message)


#: Opens a span (or anything else) around one step; see `TracedRunContext`.
StepHook = Callable[["StepNode"], AbstractContextManager[None]]


class TracedRunContext(RunContext):
    """A RunContext that runs every step inside `step_hook(node)`: the executor's tracing
    (executors/tracing.py) opens a span there. Executions that are not traced use RunContext
    itself, so they pay nothing for this. The engine sets `step_hook` after construction."""

    step_hook: StepHook

    async def run_step(self, node: StepNode, documents: list[Document]) -> list[Document]:
        with self.step_hook(node):
            return await super().run_step(node, documents)
