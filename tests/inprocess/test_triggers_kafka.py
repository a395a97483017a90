"""Subscribe triggers on Kafka, against librdkafka's mock cluster (the confluent-kafka wheel
ships it; no Kafka server is installable here): a Kafka-protocol broker on 127.0.0.1 with
consumer groups and offset commits. It is not a real Kafka (one broker, no SASL, no
rebalancing between gateways is exercised here). A message runs once and its offset is
committed; a failing one is retried with back-off, dead-lettered with `x-flowhost-error`, then
committed too; a paused trigger consumes nothing."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiokafka
import pytest
from aiokafka.structs import TopicPartition

from tests.inprocess.conftest import in_process_cluster
from tests.inprocess.test_triggers_subscribe import consuming, executions, set_config, trigger

confluent_kafka = pytest.importorskip(
    "confluent_kafka", reason="confluent-kafka (its mock Kafka cluster) is not installed"
)

PACKAGE = """
name: kafkaorders
version: "1"
service:
  path: kafkaorders
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
      topic: "{prefix}orders"
      attempts: 3
      backoff: 200ms
      dead_letter: "{prefix}orders.dead"
"""
GROUP = "flowhost_default_kafkaorders_events"


@pytest.fixture(scope="module")
def kafka() -> Iterator[str]:
    """``127.0.0.1:port`` of a one-broker mock cluster, up while the module runs."""
    owner = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    broker = next(iter(owner.list_topics(timeout=10).brokers.values()))
    yield f"{broker.host}:{broker.port}"
    owner.flush(1)


async def _committed(bootstrap: str, partition: TopicPartition) -> int | None:
    """The group's committed offset, asked by a consumer that does not join the group."""
    reader = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False
    )
    await reader.start()
    try:
        committed: int | None = await reader.committed(partition)
        return committed
    finally:
        await reader.stop()


async def test_a_message_runs_once_a_failing_one_is_dead_lettered_and_pause_stops_it(
    tmp_path: Path, kafka: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    topic, dead_topic = f"{prefix}orders", f"{prefix}orders.dead"
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    dead = aiokafka.AIOKafkaConsumer(bootstrap_servers=kafka, auto_offset_reset="earliest")
    try:
        # Asking for the partitions creates the topics (the mock auto-creates them); both
        # records go to partition 0, so its committed offset tells that both are done.
        await producer.partitions_for(topic)
        partition = TopicPartition(topic, 0)
        dead_partitions = await producer.partitions_for(dead_topic)
        await dead.start()
        dead.assign([TopicPartition(dead_topic, p) for p in dead_partitions])
        # Published before any gateway consumed: a new group starts at the earliest offset.
        # A null header value (Kafka allows one) must not stop the record or its commit.
        await producer.send_and_wait(
            topic, b'{"quantity": 1}', partition=0, headers=[("source", b"shop"), ("empty", None)]
        )
        async with in_process_cluster(tmp_path) as cluster:
            await set_config(cluster, "broker", f"kafka://{kafka}")
            await set_config(cluster, "prefix", prefix)
            await cluster.deploy(PACKAGE)
            await consuming(cluster, "events")
            await producer.send_and_wait(topic, b'{"quantity": 11}', key=b"o-2", partition=0)

            record = await asyncio.wait_for(dead.getone(), 15)
            assert (record.key, record.value) == (b"o-2", b'{"quantity": 11}')
            headers = dict(record.headers)
            assert "only 10 in stock, asked for 11" in headers["x-flowhost-error"].decode()

            rows = await executions(cluster, 4)
            assert [r["status"] for r in rows] == ["ok", "failed", "failed", "failed"], rows
            failed = [datetime.fromisoformat(r["started_at"]) for r in rows[1:]]
            gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failed)]
            assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps  # 200 ms, then 400 ms back-off

            deadline = time.monotonic() + 10  # committed after the dead letter was published
            while (committed := await _committed(kafka, partition)) != 2:
                assert time.monotonic() < deadline, committed
                await asyncio.sleep(0.1)
            state = await trigger(cluster, "events")
            assert (state["fired"], state["errors"], state["problem"]) == (4, 3, "")

            # A paused trigger stops consuming: its consumer leaves the group, records wait.
            ref = {"runtime": "default", "service": "kafkaorders#events"}
            assert (await cluster.api.post("/api/listeners/pause", json=ref)).status_code == 200
            deadline = time.monotonic() + 5
            while (await trigger(cluster, "events"))["problem"] != (
                "paused by the operator: not consuming"
            ):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await producer.send_and_wait(topic, b'{"quantity": 2}', partition=0)
            await asyncio.sleep(0.5)
            assert len(await executions(cluster, 5, timeout_s=0)) == 4  # none ran twice, or now
            assert await _committed(kafka, partition) == 2
    finally:
        await dead.stop()
        await producer.stop()


async def test_a_kafka_broker_for_a_subject_trigger_says_it_needs_a_topic(
    tmp_path: Path, kafka: str
) -> None:
    source = PACKAGE.replace('topic: "{prefix}orders"', 'subject: "{prefix}orders"')
    async with in_process_cluster(tmp_path) as cluster:
        await set_config(cluster, "broker", f"kafka://{kafka}")
        await set_config(cluster, "prefix", "p.")
        await cluster.deploy(source)
        deadline = time.monotonic() + 5
        while "needs topic" not in (problem := (await trigger(cluster, "events"))["problem"]):
            assert time.monotonic() < deadline, problem
            await asyncio.sleep(0.05)
        assert "'broker' is a kafka:// broker: the trigger needs topic, not subject" in problem
