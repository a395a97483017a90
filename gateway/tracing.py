"""OpenTelemetry spans for Flow requests: the optional `otel` extra, off by default.

With `FLOWHOST_OTEL_ENABLED=true` every Flow request gets a server span, continued from the
W3C `traceparent` Flow sent when it sent one. The span's context travels to the executor in the
request itself (`ExecuteRequest.traceparent`: one stream carries many requests, so gRPC's
per-call metadata cannot hold it), where the execution and each step get child spans
(executors/tracing.py), so one trace holds them all.

Zero cost when off: nothing imports OpenTelemetry, the Flow endpoints see `tracer is None`, and
the request's `traceparent` stays the empty default of `TRACEPARENT`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from gateway.flow.asgi import Receive, Scope, Send, header

if TYPE_CHECKING:
    from gateway.metrics.flow import Labels

log = logging.getLogger("flowhost.gateway")

#: The W3C trace context of the Flow request being served, for the executor ("" untraced).
TRACEPARENT: ContextVar[str] = ContextVar("flowhost_traceparent", default="")

Served = tuple["Labels", int, str]  # (runtime, service, version, kind, operation), status, id
Serve = Callable[[Scope, Receive, Send], Awaitable[Served]]


class FlowTracer:
    """Opens the span of each Flow request (built only when tracing is on and installed)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._tracer = trace.get_tracer("flowhost.gateway", tracer_provider=tracer_provider)
        self._propagator = TraceContextTextMapPropagator()

    async def serve(self, serve: Serve, scope: Scope, receive: Receive, send: Send) -> None:
        carrier = {}
        for name in (b"traceparent", b"tracestate"):
            value = header(scope, name)
            if value is not None:
                carrier[name.decode()] = value.decode("latin-1")
        parent = self._propagator.extract(carrier) if carrier else None
        trace = self._trace
        with self._tracer.start_as_current_span(
            f"flow {scope['method']}", context=parent, kind=trace.SpanKind.SERVER
        ) as span:
            outgoing: dict[str, str] = {}
            self._propagator.inject(outgoing)
            token = TRACEPARENT.set(outgoing.get("traceparent", ""))
            try:
                (runtime, service, version, kind, operation), status, execution_id = await serve(
                    scope, receive, send
                )
            finally:
                TRACEPARENT.reset(token)
            if service:
                span.update_name(f"flow {kind} {service} {operation}".rstrip())
            span.set_attributes(
                {
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "http.response.status_code": status,
                    "flowhost.execution_id": execution_id,
                    "flowhost.runtime": runtime,
                    "flowhost.service": service,
                    "flowhost.version": version,
                    "flowhost.kind": kind,
                    "flowhost.operation": operation,
                }
            )
            if status >= 500:
                span.set_status(trace.Status(trace.StatusCode.ERROR))


def flow_tracer(enabled: bool) -> FlowTracer | None:
    """The tracer when tracing is on; None when off, or (with a warning) not installed."""
    if not enabled:
        return None
    try:
        return FlowTracer()
    except ImportError:
        log.warning(
            "FLOWHOST_OTEL_ENABLED is set but OpenTelemetry is not installed "
            "(pip install 'flowhost[otel]'); not tracing"
        )
        return None


def configure_export(service_name: str) -> None:
    """At process start, with tracing on: a tracer provider that sends spans over OTLP
    (OTEL_EXPORTER_OTLP_ENDPOINT and the other standard OTEL_* variables), unless one is set."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return  # flow_tracer says so
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("no OTLP exporter installed (pip install 'flowhost[otel]'): spans are dropped")
    else:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
