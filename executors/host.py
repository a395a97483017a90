"""The processes this executor hosts, and the executions running on them.

Deployments are keyed "<name>@<version>". Compiling happens once, at deploy, off the event loop;
an execution only looks its package up in a dict.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from executors.results import KeptResults
from executors.runtime.documents import Document
from executors.runtime.engine import CompiledPackage, ExecutionFailure, ProcessResult
from executors.runtime.loader import YamlLimits
from executors.runtime.package import Issue, Package, PackageInvalid, load_package
from executors.runtime.policy import RuntimePolicy
from executors.runtime.progress import progress_sink
from executors.tracing import ExecutionTracer

log = logging.getLogger("flowhost.executor")


class Rejected(Exception):
    """An execution that was not started; `retryable` says another executor may take it."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class Host:
    def __init__(
        self,
        http: httpx.AsyncClient,
        max_concurrency: int,
        default_files_root: str = "",
        yaml_limits: YamlLimits | None = None,
    ) -> None:
        self._http = http
        self._yaml_limits = yaml_limits or YamlLimits()
        self._max_concurrency = max_concurrency
        self._default_files_root = default_files_root
        #: The runtime's policy as the gateway last sent it (Configure); until then, the
        #: defaults with the executor's own files root.
        self.policy = self._with_root(RuntimePolicy())
        self.policy_digest = ""
        self._packages: dict[str, CompiledPackage] = {}
        self._running: set[asyncio.Task[ProcessResult]] = set()
        self.draining = False
        #: Results of detached executions, until the gateway has taken them.
        self.kept = KeptResults()
        #: Spans for executions the gateway traced (executors/tracing.py); None: tracing off.
        self.tracer: ExecutionTracer | None = None

    # -- deployments -------------------------------------------------------------------------

    @property
    def deployments(self) -> list[str]:
        return sorted(self._packages)

    def validate(self, source: str) -> Package:
        """Parse and validate a package (raises PackageInvalid); nothing is hosted."""
        return self._load(source)

    def _load(self, source: str) -> Package:
        try:
            return load_package(source, self._yaml_limits)
        except RecursionError:
            # The YAML limits keep documents shallow; a validator that still recursed too far
            # is a refusal with a reason, never a traceback.
            raise PackageInvalid([Issue("<package>", "nested too deeply to validate")]) from None

    async def deploy(self, key: str, source: str) -> list[Issue]:
        if key in self._packages:
            return []
        try:
            compiled = await asyncio.to_thread(self._compile, source)
        except PackageInvalid as invalid:
            return list(invalid.issues)
        actual = f"{compiled.package.name}@{compiled.package.version}"
        if actual != key:
            return [Issue("<package>", f"the source is {actual}, not {key}")]
        self._packages[key] = compiled
        log.info("deployed %s", key)
        return []

    def _compile(self, source: str) -> CompiledPackage:
        return CompiledPackage.compile(self._load(source), http=self._http)

    def undeploy(self, key: str) -> None:
        if self._packages.pop(key, None) is not None:
            log.info("undeployed %s", key)

    # -- the runtime's policy ----------------------------------------------------------------

    def configure(self, policy: RuntimePolicy, digest: str) -> None:
        """Take the runtime's policy; executions started from now on run under it."""
        resolved = self._with_root(policy)
        if digest != self.policy_digest:
            log.info(
                "runtime policy %s: files root %s, %d database URLs, egress %s%s%s",
                digest or "-",
                resolved.files_root,
                len(resolved.database_urls),
                ",".join(resolved.egress_allow) or "any public address",
                ", loopback allowed" if resolved.allow_loopback else "",
                ", private networks allowed" if resolved.allow_private else "",
            )
        self.policy = resolved
        self.policy_digest = digest

    def _with_root(self, policy: RuntimePolicy) -> RuntimePolicy:
        """The policy with its files root absolute, and made (0700) when missing."""
        root = Path(os.path.abspath(policy.files_root or self._default_files_root or "."))
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:  # the step reports the folder as missing; the executor serves
            log.warning("cannot make the files root %s: %s", root, error)
        return dataclasses.replace(policy, files_root=str(root))

    # -- executions --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    def start(
        self,
        deployment: str,
        process: str,
        documents: list[Document],
        *,
        props: dict[str, str],
        config: dict[str, str],
        flow: dict[str, str],
        timeout_s: float | None,
        execution_id: str,
        record: bool,
        data_type: str = "",
        list_filter: dict[str, Any] | None = None,
        progress: Callable[[str], None] | None = None,
        secret_config: tuple[str, ...] = (),
        traceparent: str = "",
        ended: Callable[[ProcessResult], None] | None = None,
    ) -> asyncio.Task[ProcessResult]:
        """Start an execution as a task, or raise Rejected.

        `progress` receives the execution's interim messages (the `progress` step). `ended`
        receives its result inside the task's last step, so the result can leave in that loop
        turn rather than in the next, where the task's done callbacks run (an execution that is
        cancelled or crashes never calls it: its task says so).
        """
        if self.draining:
            raise Rejected("draining", "executor is shutting down", retryable=True)
        package = self._packages.get(deployment)
        if package is None:
            raise Rejected(
                "unknown_deployment", f"{deployment} is not deployed here", retryable=True
            )
        if len(self._running) >= self._max_concurrency:
            raise Rejected(
                "overloaded",
                f"executor is running {len(self._running)} executions, its limit",
                retryable=True,
            )
        tracer = self.tracer if traceparent else None

        def run() -> Coroutine[Any, Any, ProcessResult]:
            execution = package.run(
                process,
                documents,
                props=props,
                config=config,
                flow=flow,
                timeout_s=timeout_s,
                execution_id=execution_id,
                record=record,
                data_type=data_type,
                list_filter=list_filter,
                secret_config=secret_config,
                policy=self.policy,
                step_hook=tracer.step if tracer is not None else None,
            )
            if tracer is None:
                return execution
            return tracer.execution(
                execution,
                traceparent,
                {
                    "flowhost.execution_id": execution_id,
                    "flowhost.deployment": deployment,
                    "flowhost.process": process,
                },
            )

        task = asyncio.create_task(
            _execution(run, ended),
            name=f"execution {execution_id}",
            context=_with_sink(progress) if progress is not None else None,
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def drain(self, grace_s: float) -> None:
        """Stop taking work, let running executions finish for up to grace_s, cancel the rest."""
        self.draining = True
        if not self._running:
            return
        log.info("draining %d executions for up to %.1fs", len(self._running), grace_s)
        _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "cancelled %d executions still running after the grace period", len(pending)
            )
            await asyncio.wait(pending, timeout=1.0)


async def _execution(
    run: Callable[[], Coroutine[Any, Any, ProcessResult]],
    ended: Callable[[ProcessResult], None] | None,
) -> ProcessResult:
    """An execution's task. Its coroutine is made inside the task, so a task cancelled before
    its first step leaves no coroutine never awaited; `ended` gets the result in the last step."""
    result = await run()
    if ended is not None:
        ended(result)
    return result


def _with_sink(progress: Callable[[str], None]) -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(progress_sink.set, progress)
    return context


def failure_result(code: str, message: str, started: float) -> ProcessResult:
    """A ProcessResult for an execution that crashed outside the engine's own error handling."""
    return ProcessResult(
        status="failed",
        documents=[],
        outcome=None,
        faults={},
        error=ExecutionFailure(code=code, message=message, step_path="", retryable=False),
        trace=[],
        duration_us=int((time.perf_counter() - started) * 1e6),
    )
