"""OpenTelemetry spans for executions and their steps: the optional `otel` extra, off by default.

With `FLOWHOST_EXECUTOR_OTEL_ENABLED=true`, an execution whose request carries a `traceparent`
(the gateway traced it: gateway/tracing.py) runs inside a span continued from it, and each step
inside a child span named by its path, so the gateway's trace holds the whole run. A request
without one, or an executor with tracing off, runs exactly as before: the engine is handed no
step hook and uses the plain RunContext.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from executors.runtime.context import StepNode, StopExecution
from executors.runtime.engine import ProcessResult

log = logging.getLogger("flowhost.executor")


class ExecutionTracer:
    """Spans for executions (built only when tracing is on and installed)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._tracer = trace.get_tracer("flowhost.executor", tracer_provider=tracer_provider)
        self._propagator = TraceContextTextMapPropagator()

    async def execution(
        self,
        run: Coroutine[Any, Any, ProcessResult],
        traceparent: str,
        attributes: dict[str, str],
    ) -> ProcessResult:
        """Await `run` inside a span continued from the gateway's `traceparent`."""
        parent = self._propagator.extract({"traceparent": traceparent})
        trace = self._trace
        with self._tracer.start_as_current_span(
            f"execute {attributes.get('flowhost.process', '')}".rstrip(),
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            result = await run
            span.set_attribute("flowhost.status", result.status)
            if result.error is not None:
                span.set_status(trace.Status(trace.StatusCode.ERROR, result.error.message))
            return result

    def step(self, node: StepNode) -> AbstractContextManager[None]:
        """The span of one step, current while it runs (nested steps become its children)."""
        return self._step(node)

    @contextmanager
    def _step(self, node: StepNode) -> Iterator[None]:
        trace = self._trace
        with self._tracer.start_as_current_span(
            node.path,
            attributes={"flowhost.step.type": node.type},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except StopExecution:  # the `stop` step: the execution ends well
                raise
            except BaseException as error:
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)[:200]))
                raise


def execution_tracer(enabled: bool) -> ExecutionTracer | None:
    """The tracer when tracing is on; None when off, or (with a warning) not installed."""
    if not enabled:
        return None
    try:
        return ExecutionTracer()
    except ImportError:
        log.warning(
            "FLOWHOST_EXECUTOR_OTEL_ENABLED is set but OpenTelemetry is not installed "
            "(pip install 'flowhost[otel]'); not tracing"
        )
        return None


def configure_export(service_name: str) -> None:
    """At process start, with tracing on: a tracer provider exporting over OTLP (the standard
    OTEL_* variables). The gateway has its own copy: the two share nothing but protos."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("no OTLP exporter installed (pip install 'flowhost[otel]'): spans are dropped")
    else:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
