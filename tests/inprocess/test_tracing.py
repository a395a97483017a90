"""OpenTelemetry: one trace holds the gateway's span of a Flow request, the executor's span of
the execution and a span per step, continued from the traceparent Flow sent. Spans are caught
with the SDK's in-memory exporter; gateway and executor run in this process, on real gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.inprocess.conftest import EXAMPLES, InProcessCluster, in_process_cluster
from tests.inprocess.test_flow_path import QUOTE

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

FLOW_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
FLOW_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (OpenTelemetry allows one), exporting into memory."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk.TracerProvider):
        provider = sdk.TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
async def traced(tmp_path: Path, exporter: InMemorySpanExporter) -> AsyncIterator[InProcessCluster]:
    async with in_process_cluster(
        tmp_path, otel_enabled=True, executor_overrides={"otel_enabled": True}
    ) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        exporter.clear()
        yield running


async def test_one_trace_holds_the_gateway_the_executor_and_each_step(
    traced: InProcessCluster, exporter: InMemorySpanExporter
) -> None:
    async with traced.flow(await traced.user()) as flow:
        response = await flow.post(
            "/fs/shop/actions/quote",
            json=QUOTE,
            headers={"traceparent": f"00-{FLOW_TRACE_ID}-{FLOW_SPAN_ID}-01"},
        )
    assert response.status_code == 200, response.text
    execution_id = response.headers["x-flowhost-execution-id"]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    gateway = spans["flow action shop quote"]
    executor = spans["execute quote"]
    steps = [spans["processes.quote.steps[0]"], spans["processes.quote.steps[1]"]]
    # Flow's trace is continued, not replaced.
    assert {f"{s.context.trace_id:032x}" for s in (gateway, executor, *steps)} == {FLOW_TRACE_ID}
    assert gateway.parent is not None and f"{gateway.parent.span_id:016x}" == FLOW_SPAN_ID
    assert executor.parent is not None and executor.parent.span_id == gateway.context.span_id
    assert all(s.parent is not None and s.parent.span_id == executor.context.span_id for s in steps)
    assert gateway.attributes is not None and executor.attributes is not None
    assert gateway.attributes["http.response.status_code"] == 200
    assert gateway.attributes["flowhost.execution_id"] == execution_id
    assert executor.attributes["flowhost.execution_id"] == execution_id
    assert executor.attributes["flowhost.status"] == "ok"
    assert [s.attributes["flowhost.step.type"] for s in steps if s.attributes] == ["map", "return"]
    # In order, inside one another.
    assert gateway.start_time <= executor.start_time <= steps[0].start_time
    assert steps[1].end_time <= executor.end_time <= gateway.end_time


async def test_without_a_traceparent_the_gateway_starts_the_trace(
    traced: InProcessCluster, exporter: InMemorySpanExporter
) -> None:
    async with traced.flow(await traced.user()) as flow:
        assert (await flow.post("/fs/shop/actions/nope", json=QUOTE)).status_code == 404
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
    spans = exporter.get_finished_spans()
    refused = next(
        s
        for s in spans
        if s.attributes
        and s.attributes.get("flowhost.kind") == "action"
        and s.attributes["http.response.status_code"] == 404
    )
    assert refused.parent is None
    gateway = next(s for s in spans if s.name == "flow action shop quote")
    executor = next(s for s in spans if s.name == "execute quote")
    assert gateway.parent is None
    assert executor.parent is not None and executor.parent.span_id == gateway.context.span_id


async def test_an_untraced_cluster_makes_no_spans(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with in_process_cluster(tmp_path) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        exporter.clear()
        async with running.flow(await running.user()) as flow:
            response = await flow.post(
                "/fs/shop/actions/quote",
                json=QUOTE,
                headers={"traceparent": f"00-{FLOW_TRACE_ID}-{FLOW_SPAN_ID}-01"},
            )
        assert response.status_code == 200
    ours = [
        s for s in exporter.get_finished_spans() if s.instrumentation_scope.name[:8] == "flowhost"
    ]
    assert ours == []  # (FastAPI makes spans of its own for the management API)
