"""Subscribe triggers on RabbitMQ (aio-pika, AMQP 0-9-1).

Every gateway consumes the same durable queue (competing consumers: each message goes to one),
with manual acknowledgement and a prefetch of `concurrency`, which bounds the messages running
at once. A message is acked after its process succeeded. A failed one is retried through the
queue itself: after the back-off it is published again to the queue's tail with the header
`x-flowhost-attempt` raised, then the original is acked; after the last attempt it is published
to the dead-letter queue with `x-flowhost-error` and acked. Publishing before acking means a
gateway dying in between repeats an attempt, never loses the message. The back-off holds one
prefetch slot while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from gateway.triggers.delivery import ERROR_HEADER, Delivery, Subscription, gave_up

__all__ = ["ATTEMPT_HEADER", "consume_amqp"]

ATTEMPT_HEADER = "x-flowhost-attempt"
_CONNECT_TIMEOUT_S = 5.0


async def consume_amqp(s: Subscription, delivery: Delivery, report: Callable[[str], None]) -> None:
    connection = await aio_pika.connect(s.url, timeout=_CONNECT_TIMEOUT_S)
    tasks: set[asyncio.Task[None]] = set()
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=s.spec.concurrency)
        queue = await channel.declare_queue(s.subject, durable=True)
        if s.dead_letter:
            await channel.declare_queue(s.dead_letter, durable=True)
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())

        async def received(message: AbstractIncomingMessage) -> None:
            task = asyncio.create_task(_one(channel, s, delivery, message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        await queue.consume(received)
        report("")
        await closed.wait()
    finally:
        for task in tasks:
            task.cancel()
        await connection.close()


async def _one(
    channel: AbstractChannel, s: Subscription, delivery: Delivery, message: AbstractIncomingMessage
) -> None:
    headers: dict[str, Any] = dict(message.headers or {})
    attempt = _attempt(headers.get(ATTEMPT_HEADER))
    problem = await delivery.run(message.body, _text(headers), attempt)
    if problem is None:
        await message.ack()
        return
    if attempt < s.spec.attempts:
        await asyncio.sleep(s.backoff_s(attempt))
        await _publish(channel, s.subject, message, {**headers, ATTEMPT_HEADER: attempt + 1})
    else:
        gave_up(s, problem)
        if s.dead_letter:
            error = {**headers, ERROR_HEADER: problem[:1000]}
            await _publish(channel, s.dead_letter, message, error)
    await message.ack()


async def _publish(
    channel: AbstractChannel, queue: str, message: AbstractIncomingMessage, headers: dict[str, Any]
) -> None:
    copy = aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    await channel.default_exchange.publish(copy, routing_key=queue)


def _attempt(value: Any) -> int:
    """The header a sender could set too: anything but a small positive number is attempt 1."""
    return value if isinstance(value, int) and 1 <= value <= 1000 else 1


def _text(headers: dict[str, Any]) -> dict[str, str]:
    return {
        k: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for k, v in headers.items()
    }
