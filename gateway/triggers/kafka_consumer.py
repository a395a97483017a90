"""Subscribe triggers on Kafka (aiokafka).

Every gateway joins the consumer group named after the subscription (`durable`:
`flowhost_<runtime>_<package>_<trigger>`), so the gateways share the topic's partitions and each
record goes to one of them. A group new to the topic starts at its earliest offset (as a
JetStream durable consumer gets everything its stream keeps). Delivery is at least once: a
partition's offset is committed, by hand, only up to the oldest record still running, after its
process succeeded or it was dead-lettered; a gateway that dies or loses the partition in a
rebalance leaves the uncommitted records to the next owner, which runs them again.

A failed run is retried in place, in memory, after the back-off (`attempts` counts from 1 on
this gateway; a restart starts again at 1): simpler than publishing it again, and the record
keeps its place. After the last attempt it is published to the `dead_letter` topic with the
header `x-flowhost-error`, then committed; a dead letter that cannot be published stops the
consumer, which reconnects and runs the record again. While every slot (`concurrency`) is
busy the partitions are paused but still polled, so the group does not count the gateway as
gone. Records of a cluster whose advertised brokers the egress policy refuses are never
fetched: the consumer connects only after checking them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

import aiokafka
import aiokafka.errors
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import ConsumerRecord, TopicPartition

from gateway import egress
from gateway.policy import RuntimePolicy
from gateway.triggers.delivery import ERROR_HEADER, SCHEMES, Delivery, Subscription, gave_up
from gateway.triggers.slots import Slots

__all__ = ["consume_kafka"]

_POLL_MS = 1000
_CONNECT_TIMEOUT_S = 5.0
_CLIENT_ID = "flowhost-gateway"


async def consume_kafka(
    s: Subscription,
    delivery: Delivery,
    report: Callable[[str], None],
    *,
    policy: Callable[[str], RuntimePolicy],
) -> None:
    parts = urlsplit(s.url)
    host, port = parts.hostname or "", parts.port or SCHEMES["kafka"]
    bootstrap = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=_CLIENT_ID)
    offsets = _Offsets()
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=_CLIENT_ID,
        group_id=s.durable,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    slots = Slots(s.spec.concurrency)
    run = _Run(s, delivery, consumer, producer, offsets)
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            await producer.start()
        await _check_advertised(producer, policy(s.key[0]), s)
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            await consumer.start()
        consumer.subscribe([s.subject], listener=offsets)
        report("")
        while run.error is None:
            if slots.free == 0:
                consumer.pause(*consumer.assignment())
            else:
                consumer.resume(*consumer.paused())
            batches = await consumer.getmany(timeout_ms=_POLL_MS, max_records=max(1, slots.free))
            for partition, records in batches.items():
                for record in records:
                    offsets.started(partition, record.offset)
                    slots.run(run.one(partition, record))
        raise run.error
    finally:
        slots.cancel()
        await consumer.stop()
        await producer.stop()


class _Run:
    """Runs one record: its attempts, the dead letter, then the commit."""

    def __init__(
        self,
        s: Subscription,
        delivery: Delivery,
        consumer: aiokafka.AIOKafkaConsumer,
        producer: aiokafka.AIOKafkaProducer,
        offsets: _Offsets,
    ) -> None:
        self.error: Exception | None = None
        self._s = s
        self._delivery = delivery
        self._consumer = consumer
        self._producer = producer
        self._offsets = offsets

    async def one(self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        """A record that fails here unexpectedly would hold its partition's commit for good:
        instead it stops the consumer, which reconnects (status shows why) and runs it again."""
        try:
            await self._one(partition, record)
        except Exception as error:
            self.error = error

    async def _one(self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        s = self._s
        body = record.value or b""
        # A sender's headers: Kafka allows a null value and repeated keys (the last one wins).
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        problem: str | None = None
        for attempt in range(1, s.spec.attempts + 1):
            problem = await self._delivery.run(body, headers, attempt)
            if problem is None:
                break
            if attempt < s.spec.attempts:
                await asyncio.sleep(s.backoff_s(attempt))
        if problem is not None:
            gave_up(s, problem)
            if s.dead_letter:
                # Not committed when this fails: the consumer restarts and runs it again.
                await self._producer.send_and_wait(
                    s.dead_letter,
                    body,
                    key=record.key,
                    headers=[*record.headers, (ERROR_HEADER, problem[:1000].encode())],
                )
        await self._offsets.finished(self._consumer, partition, record.offset)


class _Offsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """What may be committed per partition. Kafka commits a position (every record before it is
    done) while records run at once and finish in any order: the position is the oldest record
    still running, or the one after the newest when none runs. A revoked partition is forgotten,
    its running records then commit nothing (its next owner runs them again)."""

    def __init__(self) -> None:
        self._running: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()

    def started(self, partition: TopicPartition, offset: int) -> None:
        self._running.setdefault(partition, set()).add(offset)
        self._next[partition] = offset + 1

    async def finished(
        self, consumer: aiokafka.AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        running = self._running.get(partition)
        if running is None or offset not in running:
            return
        running.discard(offset)
        position = min(running) if running else self._next[partition]
        async with self._lock:
            if position <= self._committed.get(partition, -1):
                return
            try:
                await consumer.commit({partition: position})
            except aiokafka.errors.KafkaError:
                return  # the partition went to another gateway: it runs them again
            self._committed[partition] = position

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for partition in revoked:
            self._running.pop(partition, None)
            self._next.pop(partition, None)
            self._committed.pop(partition, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


async def _check_advertised(
    producer: aiokafka.AIOKafkaProducer, policy: RuntimePolicy, s: Subscription
) -> None:
    """A cluster names its brokers (advertised listeners): each must pass the egress policy as
    the bootstrap address did, or nothing is fetched from it."""
    for broker in producer.client.cluster.brokers():
        refused = await egress.check_uri(policy, broker.host, broker.port)
        if refused is not None:
            raise PermissionError(
                f"the cluster advertises broker {broker.host}:{broker.port}, refused by runtime "
                f"'{s.key[0]}' egress policy: {refused}"
            )
