"""The publish and request steps over Kafka, against librdkafka's mock cluster: a
Kafka-protocol broker on 127.0.0.1 that the confluent-kafka wheel ships (no Kafka server can be
installed from the package registries here). It speaks the protocol the adapter uses (metadata,
produce, fetch, topic auto-creation); it is not a full Kafka (no SASL, no consumer groups are
needed here)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiokafka
import pytest
from aiokafka.structs import TopicPartition

from executors.runtime.brokers.pool import BROKERS
from executors.runtime.policy import RuntimePolicy
from executors.testing import run_process as _run_process
from executors.testing import values

from .brokers_util import broker_package, unique

confluent_kafka = pytest.importorskip(
    "confluent_kafka", reason="confluent-kafka (its mock Kafka cluster) is not installed"
)

run_process = functools.partial(_run_process, policy=RuntimePolicy(allow_loopback=True))


@pytest.fixture(scope="module")
def kafka() -> Iterator[str]:
    """``127.0.0.1:port`` of a one-broker mock cluster, up while the module runs."""
    owner = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = owner.list_topics(timeout=10).brokers
    broker = next(iter(brokers.values()))
    yield f"{broker.host}:{broker.port}"
    owner.flush(1)


@pytest.fixture(autouse=True)
async def fresh_pool() -> AsyncIterator[None]:
    yield
    await BROKERS.aclose()


async def _every_partition(bootstrap: str, topic: str) -> list[TopicPartition]:
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [TopicPartition(topic, p) for p in await producer.partitions_for(topic)]
    finally:
        await producer.stop()


async def _first_record(bootstrap: str, topic: str) -> Any:
    partitions = await _every_partition(bootstrap, topic)
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        return await asyncio.wait_for(consumer.getone(), 10)
    finally:
        await consumer.stop()


async def test_publish_to_a_kafka_topic(kafka: str) -> None:
    topic = unique("orders.created.")
    result = await run_process(
        broker_package(
            "- publish: {broker: bus, topic: '{prefix}', key: .id, headers: {source: '\"shop\"'}}"
        ),
        "p",
        [{"id": "o-1"}],
        config={"bus": f"kafka://{kafka}", "prefix": topic},
    )
    assert result.status == "ok", result.error
    record = await _first_record(kafka, topic)
    assert (record.key, record.value) == (b"o-1", b'{"id":"o-1"}')
    assert dict(record.headers) == {"source": b"shop", "content-type": b"application/json"}


@contextlib.asynccontextmanager
async def responder(bootstrap: str, topic: str) -> AsyncIterator[None]:
    """Answers each request on ``topic`` on its ``reply_to`` topic, with its correlation id."""
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    partitions = await _every_partition(bootstrap, topic)  # made now, before the request
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign(partitions)

    async def answer() -> None:
        async for record in consumer:
            headers = dict(record.headers)
            await producer.send_and_wait(
                headers["reply_to"].decode(),
                b'{"state": "open", "asked": ' + record.value + b"}",
                headers=[("correlation_id", headers["correlation_id"])],
            )

    task = asyncio.create_task(answer())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()


async def test_request_over_kafka_gives_the_correlated_reply(kafka: str) -> None:
    topic = unique("orders.get.")
    async with responder(kafka, topic):
        result = await run_process(
            broker_package(
                f"- request: {{broker: bus, topic: {topic}, timeout: 10s}}\n- return: {{}}"
            ),
            "p",
            [{"id": 1}, {"id": 2}],
            config={"bus": f"kafka://{kafka}"},
        )
    assert result.status == "ok", result.error
    assert values(result) == [
        {"state": "open", "asked": {"id": 1}},
        {"state": "open", "asked": {"id": 2}},
    ]


async def test_no_kafka_reply_in_time_is_broker_timeout(kafka: str) -> None:
    result = await run_process(
        broker_package(f"- request: {{broker: bus, topic: {unique('nobody.')}, timeout: 1s}}"),
        "p",
        [{}],
        config={"bus": f"kafka://{kafka}"},
    )
    assert result.error is not None and result.error.code == "broker_timeout", result.error


async def test_kafka_refusals(kafka: str) -> None:
    refused = await _run_process(  # default policy: loopback refused, before connecting
        broker_package("- publish: {broker: bus, topic: t}"),
        "p",
        [{}],
        config={"bus": f"kafka://{kafka}"},
    )
    assert refused.error is not None and refused.error.code == "egress_refused"
    subject = await run_process(
        broker_package("- publish: {broker: bus, subject: t}"),
        "p",
        [{}],
        config={"bus": f"kafka://{kafka}"},
    )
    assert subject.error is not None
    assert "Kafka has topics, not subjects: give topic" in subject.error.message
    sasl = await run_process(
        broker_package("- publish: {broker: bus, topic: t}"),
        "p",
        [{}],
        config={"bus": f"kafka://u:p@{kafka}"},
    )
    assert sasl.error is not None and sasl.error.code == "broker_url"
