"""RabbitMQ (AMQP 0-9-1) through aio-pika's robust connection, which reconnects by itself and
restores its channel, reply queue and consumer.

``queue`` (or ``subject``) destinations go through the default exchange (routing key = the
queue's name);
``topic`` destinations are an exchange, routed by the message key. Publishes wait for the
broker's confirm and are ``mandatory``: a message no queue takes fails the step
(``broker_unroutable``) instead of vanishing. ``request`` sends ``reply_to`` (this
connection's exclusive reply queue) and a fresh ``correlation_id``; the consumer of that queue
hands each reply to the request waiting for its id and drops replies nobody waits for.

An AMQP error closes the channel it happened on (publishing to an exchange that does not exist
does), and every execution publishing on it would fail with it. So replies are consumed on a
channel of their own, an exchange is first looked up on a throwaway channel (once per name), and
a publishing channel found closed is reopened before the next publish.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import unquote

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq.exceptions
import yarl

from .address import BrokerAddress
from .interface import BrokerError, Message, Reply, timed_out, unavailable

CONNECT_TIMEOUT_S = 3.0
RECONNECT_WAIT_S = 0.5


class AmqpBroker:
    kind = "rabbitmq"

    def __init__(
        self,
        connection: aio_pika.abc.AbstractRobustConnection,
        channel: aio_pika.abc.AbstractRobustChannel,
        reply_queue: aio_pika.abc.AbstractQueue,
        shown: str,
    ):
        self._connection = connection
        self._channel = channel
        self._reply_queue = reply_queue
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._exchanges: set[str] = set()
        self.shown = shown

    @classmethod
    async def connect(cls, address: BrokerAddress) -> AmqpBroker:
        url = yarl.URL.build(
            scheme=address.scheme,
            host=address.address,
            port=address.port,
            user=unquote(address.username) if address.username else None,
            password=unquote(address.password) if address.password else None,
            path=address.path or "/",
            query_string=f"reconnect_interval={RECONNECT_WAIT_S}",
        )
        try:
            connection = await aio_pika.connect_robust(
                url,
                timeout=CONNECT_TIMEOUT_S,
                client_properties={"connection_name": "flowhost-executor"},
            )
        except Exception as error:  # aiormq and OSError kinds, often without a message
            raise unavailable(address.shown, error) from None
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            replies = await connection.channel()
            # A name of our own: the robust connection declares it again after a reconnect.
            reply_queue = await replies.declare_queue(
                f"flowhost.reply.{uuid.uuid4().hex}", exclusive=True, auto_delete=True
            )
            broker = cls(connection, channel, reply_queue, address.shown)
            await reply_queue.consume(broker._on_reply, no_ack=True)
        except Exception as error:
            await connection.close()
            raise unavailable(address.shown, error) from None
        return broker

    @property
    def closed(self) -> bool:
        return bool(self._connection.is_closed)

    async def publish(self, message: Message) -> None:
        await self._send(message, self._outgoing(message))

    async def request(self, message: Message, timeout_s: float) -> Reply:
        correlation = uuid.uuid4().hex
        waiting: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = waiting
        try:
            outgoing = self._outgoing(message, correlation, self._reply_queue.name)
            async with asyncio.timeout(timeout_s):
                await self._send(message, outgoing)
                return await waiting
        except TimeoutError:
            raise timed_out(self.shown, message.destination, timeout_s) from None
        finally:
            self._waiting.pop(correlation, None)

    async def aclose(self) -> None:
        if not self._connection.is_closed:
            await self._connection.close()

    def _outgoing(
        self, message: Message, correlation: str | None = None, reply_to: str | None = None
    ) -> aio_pika.Message:
        return aio_pika.Message(
            message.body,
            headers=dict(message.headers),
            content_type=message.content_type,
            message_id=message.key,
            correlation_id=correlation,
            reply_to=reply_to,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )

    async def _send(self, message: Message, outgoing: aio_pika.Message) -> None:
        name = message.destination
        try:
            if self._channel.is_closed:
                await self._channel.reopen()
            if message.kind == "topic":
                await self._check_exchange(name)
                exchange = await self._channel.get_exchange(name, ensure=False)
                await exchange.publish(outgoing, routing_key=message.key or "")
            else:
                await self._channel.default_exchange.publish(outgoing, routing_key=name)
        except aio_pika.exceptions.DeliveryError as error:
            reason = getattr(error.message, "reply_text", "") if error.message else ""
            raise BrokerError(
                f"{self.shown} did not take the message for {name}: no queue is bound"
                f"{f' ({reason})' if reason else ''}",
                code="broker_unroutable",
            ) from None
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise BrokerError(
                f"{self.shown} has no exchange {name!r}", code="broker_destination"
            ) from None
        except (
            aiormq.exceptions.AMQPError,
            aio_pika.exceptions.AMQPException,
            aio_pika.exceptions.ChannelInvalidStateError,
            OSError,
        ) as error:
            raise unavailable(self.shown, error) from None

    async def _check_exchange(self, name: str) -> None:
        """Refuse (``broker_destination``) an exchange that does not exist, found out on a
        channel of its own, which the broker then closes instead of the shared one."""
        if name in self._exchanges:
            return
        probe = await self._connection.channel(publisher_confirms=False)
        try:
            await probe.get_exchange(name, ensure=True)
        finally:
            if not probe.is_closed:
                await probe.close()
        self._exchanges.add(name)

    async def _on_reply(self, incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        waiting = self._waiting.get(incoming.correlation_id or "")
        if waiting is None or waiting.done():
            return  # late (timed out) or foreign: nobody waits for it
        headers = {str(k): _text(v) for k, v in (incoming.headers or {}).items()}
        waiting.set_result(Reply(incoming.body, incoming.content_type or "", headers))


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
