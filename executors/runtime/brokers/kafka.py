"""Kafka through aiokafka: a producer for every message, and a reply topic of this connection.

aiokafka reconnects by itself (each request re-opens a connection that dropped). A Kafka
cluster tells clients where its brokers are (advertised listeners): those addresses are checked
against the runtime's egress policy when the connection is made, as the bootstrap address is
(address.py), and a cluster that advertises a refused one is refused. ``request`` sends the
headers ``reply_to`` (``flowhost.reply.<id>``, a topic of this connection, created on first use
by the broker's topic auto-creation) and ``correlation_id``; a reader hands each reply to the
request waiting for its id. Every partition of the reply topic is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aiokafka
import aiokafka.errors
from aiokafka.structs import TopicPartition

from ..egress import refusal, resolve
from ..errors import StepError
from ..policy import RuntimePolicy
from .address import BrokerAddress
from .interface import BrokerError, Message, Reply, timed_out, unavailable

CONNECT_TIMEOUT_S = 5.0
CORRELATION_HEADER = "correlation_id"
REPLY_HEADER = "reply_to"


class KafkaBroker:
    kind = "kafka"

    def __init__(self, producer: aiokafka.AIOKafkaProducer, bootstrap: str, shown: str):
        self._producer = producer
        self._bootstrap = bootstrap
        self._reply_topic = f"flowhost.reply.{uuid.uuid4().hex}"
        self._consumer: aiokafka.AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Lock()
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._closed = False
        self.shown = shown

    @classmethod
    async def connect(cls, address: BrokerAddress, policy: RuntimePolicy) -> KafkaBroker:
        if address.username or address.password:
            raise StepError(
                "kafka:// with credentials (SASL) is not supported yet", code="broker_url"
            )
        host = f"[{address.address}]" if ":" in address.address else address.address
        bootstrap = f"{host}:{address.port}"
        producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="flowhost-executor",
            request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
            retry_backoff_ms=200,
        )
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await producer.start()
                await _check_advertised(producer, policy, address.shown)
        except StepError:
            await producer.stop()
            raise
        except Exception as error:  # aiokafka's KafkaError kinds, OSError, TimeoutError
            await producer.stop()
            raise unavailable(address.shown, error) from None
        return cls(producer, bootstrap, address.shown)

    @property
    def closed(self) -> bool:
        return self._closed

    async def publish(self, message: Message) -> None:
        await self._send(message, [])

    async def request(self, message: Message, timeout_s: float) -> Reply:
        correlation = uuid.uuid4().hex
        waiting: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = waiting
        try:
            async with asyncio.timeout(timeout_s):
                await self._listen()
                extra = [
                    (REPLY_HEADER, self._reply_topic.encode()),
                    (CORRELATION_HEADER, correlation.encode()),
                ]
                await self._send(message, extra)
                return await waiting
        except TimeoutError:
            raise timed_out(self.shown, message.destination, timeout_s) from None
        finally:
            self._waiting.pop(correlation, None)

    async def aclose(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()
        await self._producer.stop()

    async def _send(self, message: Message, extra: list[tuple[str, bytes]]) -> None:
        if message.kind != "topic":
            raise BrokerError(
                f"Kafka has topics, not {message.kind}s: give topic", code="broker_destination"
            )
        headers = [(k, v.encode()) for k, v in message.headers.items()]
        headers += [("content-type", message.content_type.encode()), *extra]
        try:
            await self._producer.send_and_wait(
                message.destination,
                message.body,
                key=message.key.encode() if message.key is not None else None,
                headers=headers,
            )
        except aiokafka.errors.MessageSizeTooLargeError:
            raise BrokerError(
                f"message to {message.destination} is larger than {self.shown} accepts",
                code="broker_refused",
            ) from None
        except aiokafka.errors.KafkaError as error:
            raise unavailable(self.shown, error) from None

    async def _listen(self) -> None:
        """Start reading this connection's reply topic (once), before the first request."""
        async with self._listening:
            if self._reader is not None:
                return
            consumer = aiokafka.AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id="flowhost-executor",
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # the topic is new and only ours
            )
            try:
                await consumer.start()
                # Asking for the topic's partitions makes the broker create it.
                partitions = await self._producer.partitions_for(self._reply_topic)
                consumer.assign([TopicPartition(self._reply_topic, p) for p in partitions])
            except aiokafka.errors.KafkaError as error:
                await consumer.stop()
                raise unavailable(self.shown, error) from None
            self._consumer = consumer
            self._reader = asyncio.create_task(self._read(consumer))

    async def _read(self, consumer: aiokafka.AIOKafkaConsumer) -> None:
        async for record in consumer:
            headers = {k: v.decode(errors="replace") for k, v in record.headers}
            waiting = self._waiting.get(headers.get(CORRELATION_HEADER, ""))
            if waiting is None or waiting.done():
                continue  # late (timed out) or foreign: nobody waits for it
            content_type = headers.get("content-type", "")
            waiting.set_result(Reply(record.value or b"", content_type, headers))


async def _check_advertised(
    producer: aiokafka.AIOKafkaProducer, policy: RuntimePolicy, shown: str
) -> None:
    for broker in producer.client.cluster.brokers():
        for found in await resolve(broker.host, broker.port, CONNECT_TIMEOUT_S):
            reason = refusal(policy, broker.host, found)
            if reason is not None:
                raise StepError(
                    f"broker {shown} advertises {broker.host}:{broker.port}, refused by the "
                    f"runtime's egress policy: {reason}; nothing was sent",
                    code="egress_refused",
                )
