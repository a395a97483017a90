"""Subscribe triggers against the real brokers at 127.0.0.1 (NATS with JetStream on 4222,
RabbitMQ on 5672): a message runs the process once; a failing one is retried with back-off and
dead-lettered after its attempts. Each test uses its own subjects, stream and queues."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import nats
import orjson
import pytest
from nats.js.api import StreamConfig

from tests.executors.runtime.brokers_util import CuttableProxy
from tests.inprocess.conftest import InProcessCluster, in_process_cluster
from tests.inprocess.test_triggers import docs_example

NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


needs_nats = pytest.mark.skipif(not _listening(4222), reason="no NATS server on 127.0.0.1:4222")
needs_rabbitmq = pytest.mark.skipif(
    not _listening(5672), reason="no RabbitMQ server on 127.0.0.1:5672"
)


async def set_config(cluster: InProcessCluster, name: str, value: str) -> None:
    response = await cluster.api.put(f"/api/runtimes/default/config/{name}", json={"value": value})
    assert response.status_code == 200, response.text


async def trigger(cluster: InProcessCluster, name: str) -> dict[str, Any]:
    response = await cluster.api.get("/api/triggers", params={"runtime": "default"})
    assert response.status_code == 200, response.text
    return next(t for t in response.json() if t["name"] == name)


async def consuming(cluster: InProcessCluster, name: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while (state := await trigger(cluster, name))["problem"]:
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.05)


async def executions(cluster: InProcessCluster, count: int, timeout_s: float = 10) -> list[Any]:
    assert cluster.app.api.gateway is not None
    deadline = time.monotonic() + timeout_s
    while True:
        await cluster.app.api.gateway.history.flush()
        response = await cluster.api.get("/api/executions", params={"kind": "subscribe"})
        rows: list[dict[str, Any]] = response.json()
        if len(rows) >= count or time.monotonic() > deadline:
            return sorted(rows, key=lambda r: r["started_at"])
        await asyncio.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def stream(prefix: str) -> AsyncIterator[str]:
    """A JetStream stream of this test's subjects, deleted after it."""
    name = f"FH_{prefix.strip('.').upper()}"
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{prefix}>"]))
    try:
        yield name
    finally:
        await js.delete_stream(name)
        await client.close()


@needs_nats
async def test_jetstream_runs_each_message_once_and_dead_letters_a_failing_one(
    tmp_path: Path, prefix: str, stream: str
) -> None:
    client = await nats.connect(NATS_URL)
    dead = await client.subscribe(f"{prefix}orders.dead")
    js = client.jetstream()
    # Published before any gateway consumed: the stream keeps it for the durable consumer.
    await js.publish(f"{prefix}orders.created", orjson.dumps({"id": "kept", "quantity": 1}))
    source = docs_example().replace("stream: ORDERS", f"stream: {stream}")
    try:
        async with in_process_cluster(tmp_path) as cluster:
            await set_config(cluster, "prefix", prefix)
            await cluster.deploy(source)
            await consuming(cluster, "events")
            await js.publish(f"{prefix}orders.created", orjson.dumps({"id": "big", "quantity": 50}))
            message = await dead.next_msg(timeout=10)
            assert orjson.loads(message.data) == {"id": "big", "quantity": 50}
            assert "only 10 in stock, asked for 50" in message.headers["x-flowhost-error"]
            rows = await executions(cluster, 4)
            assert [(r["action"], r["status"]) for r in rows] == [
                ("events", "ok"),
                ("events", "failed"),
                ("events", "failed"),
                ("events", "failed"),
            ]
            # Attempts waited for the back-off: 200 ms, then 400 ms (nak'ed with a delay).
            failed = [datetime.fromisoformat(r["started_at"]) for r in rows[1:]]
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failed)]
            assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps
            state = await trigger(cluster, "events")
            assert (state["fired"], state["errors"], state["problem"]) == (4, 3, "")
    finally:
        await client.close()


@needs_nats
async def test_core_nats_with_a_queue_group_and_a_pause_that_stops_consuming(
    tmp_path: Path, prefix: str
) -> None:
    source = docs_example().replace("      stream: ORDERS\n", "")
    client = await nats.connect(NATS_URL)
    try:
        async with in_process_cluster(tmp_path) as cluster:
            await set_config(cluster, "prefix", prefix)
            await cluster.deploy(source)
            await consuming(cluster, "events")
            await client.publish(f"{prefix}orders.created", b'{"id": "a", "quantity": 2}')
            assert [r["status"] for r in await executions(cluster, 1)] == ["ok"]

            ref = {"runtime": "default", "service": "orders#events"}
            assert (await cluster.api.post("/api/listeners/pause", json=ref)).status_code == 200
            deadline = time.monotonic() + 5
            while (await trigger(cluster, "events"))["state"] != "paused":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # the consumer stops at the next reconcile (1 s)
            await client.publish(f"{prefix}orders.created", b'{"id": "b", "quantity": 2}')
            await asyncio.sleep(0.3)
            assert len(await executions(cluster, 2, timeout_s=0.3)) == 1  # nothing consumed
    finally:
        await client.close()


async def test_a_broker_the_egress_policy_refuses_is_not_connected_and_says_why(
    tmp_path: Path,
) -> None:
    async with in_process_cluster(tmp_path, loopback_runtimes=[]) as cluster:
        await cluster.deploy(docs_example())
        deadline = time.monotonic() + 5
        while "egress policy" not in (problem := (await trigger(cluster, "events"))["problem"]):
            assert time.monotonic() < deadline, problem
            await asyncio.sleep(0.05)
        assert "broker 127.0.0.1:4222 is refused by runtime 'default'" in problem


RABBIT_PACKAGE = """
name: rabbit
version: "1"
service:
  path: rabbit
  configuration:
    - {name: broker, set_by: operator}
    - {name: prefix, set_by: operator}
processes:
  on-event:
    steps:
      - decision:
          if: '.quantity > 10'
          then:
            - fail: '"only 10 in stock, asked for \\(.quantity)"'
      - return: {}
triggers:
  - name: events
    process: on-event
    subscribe:
      broker: broker
      subject: "{prefix}orders"
      attempts: 2
      backoff: 100ms
      dead_letter: "{prefix}orders.dead"
"""


@needs_rabbitmq
async def test_rabbitmq_acks_after_success_retries_and_dead_letters(
    tmp_path: Path, prefix: str
) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    try:
        async with in_process_cluster(tmp_path) as cluster:
            await set_config(cluster, "broker", AMQP_URL)
            await set_config(cluster, "prefix", prefix)
            await cluster.deploy(RABBIT_PACKAGE)
            await consuming(cluster, "events")
            for body in (b'{"quantity": 1}', b'{"quantity": 11}'):
                message = aio_pika.Message(body, content_type="application/json")
                await channel.default_exchange.publish(message, routing_key=f"{prefix}orders")
            dead_queue = await channel.declare_queue(f"{prefix}orders.dead", durable=True)
            deadline = time.monotonic() + 10
            while (dead := await dead_queue.get(fail=False)) is None:
                assert time.monotonic() < deadline, "nothing was dead-lettered"
                await asyncio.sleep(0.05)
            await dead.ack()
            assert dead.body == b'{"quantity": 11}'
            assert dead.headers["x-flowhost-attempt"] == 2
            assert "only 10 in stock" in str(dead.headers["x-flowhost-error"])
            rows = await executions(cluster, 3)
            assert sorted(r["status"] for r in rows) == ["failed", "failed", "ok"]
            queue = await channel.declare_queue(f"{prefix}orders", durable=True, passive=True)
            assert queue.declaration_result.message_count == 0  # everything acknowledged
    finally:
        for name in (f"{prefix}orders", f"{prefix}orders.dead"):
            await channel.queue_delete(name)
        await connection.close()


SLOW_PACKAGE = """
name: slow
version: "1"
service:
  path: slow
  configuration:
    - {name: broker, default: "nats://127.0.0.1:4222", set_by: operator}
    - {name: prefix, set_by: operator}
processes:
  work:
    steps:
      - sleep: 300ms
      - return: {}
triggers:
  - name: work
    process: work
    subscribe: {broker: broker, subject: "{prefix}jobs", stream: STREAM, concurrency: 2}
"""


@needs_nats
async def test_two_gateways_share_the_durable_consumer_each_message_once_two_at_a_time(
    tmp_path: Path, prefix: str, stream: str
) -> None:
    source = SLOW_PACKAGE.replace("STREAM", stream)
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    try:
        async with (
            in_process_cluster(tmp_path / "one") as one,
            in_process_cluster(tmp_path / "two") as two,
        ):
            for cluster in (one, two):  # two gateways, each with its own store and executor
                await set_config(cluster, "prefix", prefix)
                await cluster.deploy(source)
                await consuming(cluster, "work")
            for number in range(8):
                await js.publish(f"{prefix}jobs", orjson.dumps({"n": number}))
            deadline = time.monotonic() + 15
            while True:
                rows = [r for c in (one, two) for r in await executions(c, 0, timeout_s=0)]
                if len(rows) >= 8 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a message run twice would show up by now
            rows = [r for c in (one, two) for r in await executions(c, 0, timeout_s=0)]
            assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
            for cluster in (one, two):  # each gateway ran at most two at a time
                mine = await executions(cluster, 0, timeout_s=0)
                spans = [
                    (start := datetime.fromisoformat(r["started_at"]).timestamp(),
                     start + r["duration_ms"] / 1000)
                    for r in mine
                ]  # fmt: skip
                most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
                assert most <= 2, spans
    finally:
        await client.close()


@needs_rabbitmq
async def test_after_a_long_outage_a_short_one_is_retried_at_the_shortest_wait(
    tmp_path: Path, prefix: str
) -> None:
    """The retry wait doubles while the broker is away and starts again from its shortest once
    the consumer consumes: a consumer that came back from one long outage must not wait the
    long wait at the next short one."""
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    try:
        async with CuttableProxy(5672) as proxy, in_process_cluster(tmp_path) as cluster:
            await set_config(cluster, "broker", f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
            await set_config(cluster, "prefix", prefix)
            await cluster.deploy(RABBIT_PACKAGE)
            await consuming(cluster, "events")
            await proxy.away()  # a long outage: the waits grow 0.5, 1, 2, 4 s
            await asyncio.sleep(4.5)
            assert (await trigger(cluster, "events"))["problem"]
            await proxy.back()
            await consuming(cluster, "events", timeout_s=15)
            await proxy.away()  # a short one
            await asyncio.sleep(0.2)
            await proxy.back()
            message = aio_pika.Message(b'{"quantity": 1}', content_type="application/json")
            await channel.default_exchange.publish(message, routing_key=f"{prefix}orders")
            started = time.monotonic()
            rows = await executions(cluster, 1, timeout_s=10)
            assert [r["status"] for r in rows] == ["ok"]
            assert time.monotonic() - started < 3.0  # the 0.5 s wait, not the 8 s one
    finally:
        for name in (f"{prefix}orders", f"{prefix}orders.dead"):
            await channel.queue_delete(name)
        await connection.close()
