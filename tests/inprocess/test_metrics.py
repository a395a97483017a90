"""/metrics as Prometheus scrapes it: Flow requests by service, operation and status with their
latency, the executors' own figures (reported over the link), history and callbacks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.inprocess.conftest import EXAMPLES, InProcessCluster, in_process_cluster
from tests.inprocess.test_flow_path import QUOTE

SHOP_VERSION = "1.2.0"  # flowhost/examples/shop.yaml
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):  # parses, or raises
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _flow(runtime: str, service: str, kind: str, operation: str, status: str) -> dict[str, str]:
    version = SHOP_VERSION if service else ""  # the version that answered
    return dict(
        runtime=runtime,
        service=service,
        version=version,
        kind=kind,
        operation=operation,
        status=status,
    )


async def test_metrics_need_the_admin_login(cluster: InProcessCluster) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cluster.app), base_url="http://gateway"
    ) as anonymous:
        response = await anonymous.get("/metrics")
        assert response.status_code == 401
        assert response.json()["error"] == "missing_credentials"
        wrong = await anonymous.get("/metrics", auth=("admin", "wrong"))
        assert wrong.status_code == 401


async def test_flow_requests_are_counted_by_service_operation_and_status(
    cluster: InProcessCluster,
) -> None:
    before = await _scrape(cluster.api)
    quote = _flow("default", "shop", "action", "quote", "200")
    assert _value(before, "flowhost_flow_requests_total", **quote) is None
    async with cluster.flow(await cluster.user()) as flow:
        for _ in range(3):
            assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
        assert (await flow.post("/fs/shop/actions/invented", json=QUOTE)).status_code == 404
        assert (await flow.get("/fs/shop/metadata")).status_code == 200
    async with cluster.flow(("nobody", "wrong")) as stranger:
        assert (await stranger.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 401
    samples = await _scrape(cluster.api)
    assert _value(samples, "flowhost_flow_requests_total", **quote) == 3
    assert _value(samples, "flowhost_flow_request_duration_seconds_count", **quote) == 3
    total = _value(samples, "flowhost_flow_request_duration_seconds_sum", **quote)
    assert total is not None and 0 < total < 10
    slowest = _value(samples, "flowhost_flow_request_duration_seconds_bucket", **quote, le="+Inf")
    assert slowest == 3
    # An action the service does not have is not a label: invented names add no series.
    unknown = _flow("default", "shop", "action", "", "404")
    assert _value(samples, "flowhost_flow_requests_total", **unknown) == 1
    assert not any("invented" in str(labels) for _, labels in samples)
    describe = _flow("default", "shop", "metadata", "describe", "200")
    assert _value(samples, "flowhost_flow_requests_total", **describe) == 1
    refused = _flow("", "", "", "", "401")
    assert _value(samples, "flowhost_flow_requests_total", **refused) == 1


async def test_the_executors_report_their_figures_through_the_link(
    cluster: InProcessCluster,
) -> None:
    address = cluster.executors[0].address
    executor = {"runtime": "default", "executor": address}
    async with cluster.flow(await cluster.user()) as flow:
        answers = await asyncio.gather(
            *(flow.post("/fs/shop/actions/quote", json=QUOTE) for _ in range(20))
        )
    assert all(a.status_code == 200 for a in answers)
    deadline = time.monotonic() + 10
    while True:  # the executor reports at the next discovery pass (every 0.2 s here)
        samples = await _scrape(cluster.api)
        received = _value(samples, "flowhost_executor_stream_requests_total", **executor)
        if received is not None and received >= 20:
            break
        assert time.monotonic() < deadline, f"the executor reported {received} requests"
        await asyncio.sleep(0.1)
    assert _value(samples, "flowhost_executor_ready", **executor) == 1
    assert _value(samples, "flowhost_executor_in_flight", **executor) == 0
    assert _value(samples, "flowhost_executor_max_concurrency", **executor) == 1000
    batches = _value(samples, "flowhost_executor_stream_request_batches_total", **executor)
    assert batches is not None and 1 <= batches <= received
    results = _value(samples, "flowhost_executor_stream_results_total", **executor)
    assert results is not None and results >= 20
    uptime = _value(samples, "flowhost_executor_uptime_seconds", **executor)
    assert uptime is not None and uptime > 0


async def test_history_and_callbacks_are_measured(cluster: InProcessCluster) -> None:
    async with cluster.flow(await cluster.user()) as flow:
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
    deadline = time.monotonic() + 10
    while True:  # written within a flush interval (0.5 s)
        samples = await _scrape(cluster.api)
        if _value(samples, "flowhost_history_written_total") == 1:
            break
        assert time.monotonic() < deadline, samples
        await asyncio.sleep(0.1)
    assert _value(samples, "flowhost_history_recording") == 1
    assert _value(samples, "flowhost_history_queued") == 0
    assert _value(samples, "flowhost_history_lag_seconds") == 0
    assert _value(samples, "flowhost_history_dropped_total") == 0
    assert _value(samples, "flowhost_callback_attempts_total", outcome="dead") == 0
    assert _value(samples, "flowhost_waiting_executions") == 0
    assert _value(samples, "flowhost_gateway_process_resident_memory_bytes")


async def test_metrics_can_be_public(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path, metrics_public=True) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.app), base_url="http://gateway"
        ) as anonymous:
            samples = await _scrape(anonymous)
    executor = {"runtime": "default", "executor": running.executors[0].address}
    assert _value(samples, "flowhost_executor_ready", **executor) == 1


async def test_every_metric_is_documented_and_every_documented_one_is_served(
    cluster: InProcessCluster,
) -> None:
    import re

    from tests.inprocess.conftest import ROOT

    async with cluster.flow(await cluster.user()) as flow:
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
    response = await cluster.api.get("/metrics")
    served = {
        family.name
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("flowhost_") and "_process_" not in family.name
    }
    text = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(flowhost_\w+)` \|", text, re.MULTILINE))
    # The parser names a counter's family without its `_total`.
    documented = {name.removesuffix("_total") for name in documented}
    assert served == documented
