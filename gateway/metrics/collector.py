"""The gateway's metrics, made when Prometheus scrapes: one scrape sees the whole cluster.

Nothing here runs on the request path. Flow request counts come from the plain lists the Flow
endpoints keep (gateway/metrics/flow.py); executor figures from what each executor reported at
its last Describe (every discovery pass, executor.proto `ExecutorStats`); WAITs, callbacks and
the history from the objects that do that work; callback counts by state from one grouped
query, run off the event loop before the text is made. docs/operations.md lists every metric.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.metrics.flow import BUCKETS, FlowMetrics

if TYPE_CHECKING:
    from gateway.callbacks.sender import CallbackSender
    from gateway.callbacks.waiting import WaitingExecutions
    from gateway.history.record import History
    from gateway.reconcile import Reconciler
    from gateway.routing import ExecutorPool

_FLOW_LABELS = ["runtime", "service", "version", "kind", "operation", "status"]
_EXECUTOR_LABELS = ["runtime", "executor"]
_BOUNDS = [*(f"{b:g}" for b in BUCKETS), "+Inf"]


@dataclass
class ClusterSources:
    """Where the figures are read from; `None` for what a gateway does not run."""

    flow: FlowMetrics
    pool: ExecutorPool
    reconciler: Reconciler
    history: History
    waiting: WaitingExecutions | None = None
    sender: CallbackSender | None = None
    #: (runtime, state) -> callbacks in the outbox; a blocking query, run off the loop.
    callback_counts: Callable[[], dict[tuple[str, str], int]] | None = None
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)


class ClusterCollector(Collector):
    def __init__(self, sources: ClusterSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._flow()
        yield from self._executors()
        yield from self._waits_and_callbacks()
        yield from self._history()

    def _flow(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "flowhost_flow_requests",
            "Flow requests answered, by runtime, service, package version, kind (action, data, "
            "file, metadata, health; empty before a service was resolved), operation and HTTP "
            "status",
            labels=_FLOW_LABELS,
        )
        latency = HistogramMetricFamily(
            "flowhost_flow_request_duration_seconds",
            "Time from a Flow request's arrival to its answer",
            labels=_FLOW_LABELS,
        )
        for (runtime, service, version, kind, operation, status), series in list(
            self._sources.flow.series.items()
        ):
            values = [runtime, service, version, kind, operation, str(status)]
            cumulative, buckets = 0.0, []
            for bound, count in zip(_BOUNDS, series, strict=False):
                cumulative += count
                buckets.append((bound, cumulative))
            requests.add_metric(values, cumulative)
            latency.add_metric(values, buckets, series[-1])
        yield requests
        yield latency

    def _executors(self) -> Iterator[Metric]:
        def gauge(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=_EXECUTOR_LABELS)

        def counter(name: str, text: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, text, labels=_EXECUTOR_LABELS)

        ready = gauge("flowhost_executor_ready", "1 when the executor takes Flow requests")
        outstanding = gauge(
            "flowhost_executor_outstanding", "Requests this gateway is waiting on, per executor"
        )
        in_flight = gauge("flowhost_executor_in_flight", "Executions running (executor's count)")
        limit = gauge("flowhost_executor_max_concurrency", "The executor's admission limit")
        kept = gauge(
            "flowhost_executor_kept_results", "Detached results waiting for a gateway to take"
        )
        uptime = gauge("flowhost_executor_uptime_seconds", "Since the executor process started")
        received = counter(
            "flowhost_executor_stream_requests", "Execute requests received on execution streams"
        )
        request_batches = counter(
            "flowhost_executor_stream_request_batches",
            "Stream messages those requests arrived in (requests / batches = batch size)",
        )
        results = counter("flowhost_executor_stream_results", "Results sent on execution streams")
        result_batches = counter(
            "flowhost_executor_stream_result_batches",
            "Stream messages those results went out in (results / batches = batch size)",
        )
        rejected = counter(
            "flowhost_executor_rejected",
            "Executions refused: overloaded, draining, or not deployed there",
        )
        connections = self._sources.pool.connections
        for status in self._sources.reconciler.statuses():
            values = [status.runtime, status.address]
            ready.add_metric(values, 1.0 if status.ready else 0.0)
            outstanding.add_metric(values, status.outstanding)
            connection = connections.get(status.address)
            info = connection.info if connection is not None else None
            if info is None:
                continue
            stats = info.stats
            in_flight.add_metric(values, stats.in_flight)
            limit.add_metric(values, stats.max_concurrency)
            kept.add_metric(values, stats.kept_results)
            uptime.add_metric(values, stats.uptime_s)
            received.add_metric(values, stats.requests_received)
            request_batches.add_metric(values, stats.request_batches)
            results.add_metric(values, stats.results_sent)
            result_batches.add_metric(values, stats.result_batches)
            rejected.add_metric(values, stats.rejected)
        yield from (ready, outstanding, in_flight, limit, kept, uptime)
        yield from (received, request_batches, results, result_batches, rejected)

    def _waits_and_callbacks(self) -> Iterator[Metric]:
        sources = self._sources
        if sources.waiting is not None:
            waits = CounterMetricFamily(
                "flowhost_flow_waits",
                "Message actions answered WAIT (still running at their sync timeout)",
                labels=["runtime"],
            )
            for runtime, count in list(sources.waiting.waits.items()):
                waits.add_metric([runtime], count)
            yield waits
            yield GaugeMetricFamily(
                "flowhost_waiting_executions",
                "Detached executions this gateway follows through a live stream",
                value=sources.waiting.following,
            )
        if sources.sender is not None:
            attempts = CounterMetricFamily(
                "flowhost_callback_attempts",
                "Callback deliveries attempted by this gateway, by outcome: delivered, retry "
                "(failed, tried again later) or dead (failed for good: dead-lettered)",
                labels=["outcome"],
            )
            for outcome, count in sources.sender.attempts.items():
                attempts.add_metric([outcome], count)
            yield attempts
        if sources.callback_counts is not None:
            callbacks = GaugeMetricFamily(
                "flowhost_callbacks",
                "Callbacks in the outbox by runtime and state: running (execution going on), "
                "pending (to deliver), delivered, dead, superseded",
                labels=["runtime", "state"],
            )
            for (runtime, state), count in sorted(sources._counts.items()):
                callbacks.add_metric([runtime, state], count)
            yield callbacks

    def _history(self) -> Iterator[Metric]:
        history = self._sources.history
        yield GaugeMetricFamily(
            "flowhost_history_recording", "1 while executions are recorded", value=history.enabled
        )
        yield GaugeMetricFamily(
            "flowhost_history_queued", "Execution summaries waiting to be written", history.queued
        )
        yield GaugeMetricFamily(
            "flowhost_history_lag_seconds",
            "How long summaries have waited without the queue emptying (writer lag)",
            value=history.lag_s,
        )
        yield CounterMetricFamily(
            "flowhost_history_written", "Summaries handed to the store", value=history.written_total
        )
        yield CounterMetricFamily(
            "flowhost_history_dropped",
            "Summaries dropped because the writer fell behind its queue limit",
            value=history.dropped_total,
        )


class ClusterMetrics:
    """Renders the Prometheus text: this collector and the process's own CPU and memory."""

    def __init__(self, sources: ClusterSources) -> None:
        self._sources = sources
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(ClusterCollector(sources))
        ProcessCollector(namespace="flowhost_gateway", registry=self._registry)

    async def render(self) -> bytes:
        counts = self._sources.callback_counts
        if counts is not None:
            self._sources._counts = await asyncio.to_thread(counts)
        return generate_latest(self._registry)
