"""The shipped `orders` example end to end, as its README lines promise: real gateway and executor
processes, the real NATS on 127.0.0.1:4222 and a warehouse responder (nats-py) this test runs. A
signed webhook and a Flow action place orders priced over NATS; the hourly schedule (every 1 s in
this test's copy) asks for the stats and publishes the summary."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest

from flowhost.devcluster import Cluster
from flowhost.examples import FOLDER as EXAMPLES
from gateway.triggers.signature import sign
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster
from tests.executors.runtime.brokers_util import NATS_URL, listening

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not listening(4222), reason="no NATS server on 127.0.0.1:4222"),
]

SECRET = "hush-orders"
PACKAGES_MD = Path(__file__).resolve().parents[2] / "docs" / "packages.md"


class Warehouse:
    """Answers `<prefix>.warehouse.quote` and `.stats`, records `<prefix>.orders.summary`."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.summaries: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: Any = self._run(self._start())

    def _run(self, work: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work, self._loop)
        return future.result(timeout=10)

    async def _start(self) -> Any:
        client = await nats.connect(NATS_URL)

        async def quote(msg: Any) -> None:
            asked = json.loads(msg.data)
            reply = {"sku": asked["sku"], "unitPrice": 2.5, "available": 10}
            await client.publish(msg.reply, json.dumps(reply).encode())

        async def stats(msg: Any) -> None:
            await client.publish(msg.reply, b'{"orders": 2, "revenue": 28}')

        async def summary(msg: Any) -> None:
            self.summaries.append(json.loads(msg.data))

        await client.subscribe(f"{self.prefix}.warehouse.quote", cb=quote)
        await client.subscribe(f"{self.prefix}.warehouse.stats", cb=stats)
        await client.subscribe(f"{self.prefix}.orders.summary", cb=summary)
        await client.flush()
        return client

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@pytest.fixture(scope="module")
def warehouse() -> Iterator[Warehouse]:
    running = Warehouse(f"e2e{uuid.uuid4().hex[:10]}")
    yield running
    running.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, warehouse: Warehouse) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("orders")
    with running_cluster(folder / "cluster", executors=1) as running:

        def ok(*args: str) -> None:
            done = flowhost(running, *args)
            assert done.returncode == 0, done.stdout + done.stderr

        ok("policy", "set", "-r", "default", "--allow-loopback")  # NATS is on 127.0.0.1
        ok("config", "set", "prefix", warehouse.prefix, "--runtime", "default")
        ok("config", "set", "webhookSecret", SECRET, "--runtime", "default", "--secret")
        package = folder / "orders.yaml"
        source = (EXAMPLES / "orders.yaml").read_text()
        assert "schedule: {every: 1h}" in source
        package.write_text(source.replace("schedule: {every: 1h}", "schedule: {every: 1s}"))
        ok("deploy", str(package))
        yield running


def _signed(cluster: Cluster, order: dict[str, Any]) -> httpx.Response:
    body = orjson.dumps(order)
    headers = {
        "content-type": "application/json",
        "x-flowhost-signature": sign(SECRET, body, int(time.time())),
    }
    url = f"{cluster.url}/hooks/default/orders/new-order"
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_a_signed_webhook_order_is_priced_over_nats(cluster: Cluster) -> None:
    """The call and answer docs/packages.md shows for the example."""
    order = {"id": "A-1", "sku": "tea", "quantity": 3}

    def accepted() -> httpx.Response:
        answer = _signed(cluster, order)  # the secret and prefix reach the gateway at its poll
        assert answer.status_code == 200, answer.text
        return answer

    answer = assert_eventually(accepted, timeout_s=15, interval_s=0.2)
    shown = PACKAGES_MD.read_text().split("orders.summary`. Its `broker`", 1)[1]
    assert answer.text in shown  # the very line the page shows
    assert answer.json() == {
        "order": "A-1",
        "sku": "tea",
        "quantity": 3,
        "unitPrice": 2.5,
        "total": 7.5,
        "status": "accepted",
    }
    unsigned = httpx.post(f"{cluster.url}/hooks/default/orders/new-order", json=order, timeout=10)
    assert unsigned.status_code == 401, unsigned.text
    assert unsigned.json()["error"] == "missing_signature"


def test_flow_places_an_order_beyond_the_stock_as_backordered(cluster: Cluster) -> None:
    added = flowhost(cluster, "users", "add", "olga", "--runtime", "default")
    token = added.stdout.split("token:")[1].strip()
    request = {
        "inputs": [
            {"developerName": "id", "contentType": "ContentString", "contentValue": "F-1"},
            {"developerName": "sku", "contentType": "ContentString", "contentValue": "tea"},
            {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "12"},
        ],
        "outcomes": [{"id": "out-back", "developerName": "backordered"}],
    }
    answer = httpx.post(
        f"{cluster.url}/fs/orders/actions/place", json=request, auth=("olga", token), timeout=30
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["selectedOutcomeId"] == "out-back"
    outputs = {o["developerName"]: o["contentValue"] for o in body["outputs"]}
    assert outputs["status"] == "backordered" and outputs["order"] == "F-1", outputs
    assert float(outputs["total"]) == 30  # 12 at the warehouse's 2.5, 10 in stock


def test_the_schedule_asks_for_the_stats_and_publishes_the_summary(
    cluster: Cluster, warehouse: Warehouse
) -> None:
    def published() -> dict[str, Any]:
        assert warehouse.summaries, "no summary on NATS yet"
        return warehouse.summaries[-1]

    assert assert_eventually(published, timeout_s=10) == {
        "orders": 2,
        "revenue": 28,
        "text": "2 orders, 28 in revenue",
    }

    def in_history() -> str:  # the history is written in batches, a moment after the run
        listed = flowhost(cluster, "executions", "--kind", "schedule")
        assert listed.returncode == 0, listed.stderr
        rows = [row for row in listed.stdout.splitlines() if "hourly-summary" in row]
        assert any(" ok " in row for row in rows), listed.stdout
        return listed.stdout

    assert_eventually(in_history, timeout_s=10, interval_s=0.5)
