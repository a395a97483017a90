"""Subscribe triggers on NATS (nats-py).

With a `stream`: a JetStream durable pull consumer shared by every gateway (its name is the
subscription's `durable`), so messages are kept while no gateway runs and each is delivered to
one. A message is acked after its process succeeded; a failed one is nak'ed with the back-off
as delay and comes back with its delivery count (the attempt) raised; after the last attempt it
is published to the dead letter and acked. The consumer's ack wait outlasts the process
deadline, so a message is redelivered only when its gateway died.

Without a stream: core NATS with a queue group of the same name (one gateway of the group gets
each message, at most once, nothing is kept); attempts and back-off run in the gateway.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from gateway.triggers.delivery import ERROR_HEADER, Delivery, Subscription, gave_up
from gateway.triggers.slots import Slots

__all__ = ["consume_nats"]

_FETCH_WAIT_S = 1.0
_ACK_WAIT_MARGIN_S = 30.0
_CORE_PENDING_PER_SLOT = 64
_CORE_PENDING_BYTES = 64 * 1024 * 1024


async def consume_nats(s: Subscription, delivery: Delivery, report: Callable[[str], None]) -> None:
    async def failed(error: Exception) -> None:  # nats-py retries; the operator sees why
        report(f"{type(error).__name__}: {str(error)[:300]}")

    client = await nats.connect(
        s.url,
        name=s.durable,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,  # the first connection too: `failed` says why meanwhile
        error_cb=failed,
    )
    slots = Slots(s.spec.concurrency)
    try:
        if s.spec.stream:
            await _jetstream(client, s, delivery, slots, report)
        else:
            await _core(client, s, delivery, slots, report)
    finally:
        slots.cancel()
        await client.close()


async def _jetstream(
    client: Client,
    s: Subscription,
    delivery: Delivery,
    slots: Slots,
    report: Callable[[str], None],
) -> None:
    js = client.jetstream()
    config = ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=s.run_timeout_s + _ACK_WAIT_MARGIN_S,
        max_ack_pending=max(1000, s.spec.concurrency),
    )
    subscription = await js.pull_subscribe(
        s.subject, durable=s.durable, stream=s.spec.stream, config=config
    )
    report("")
    # nats-py's fetch also returns what reached its inbox after an earlier fetch gave up (an
    # answer to a pull that outlived the client's timeout): more than `free` at times. Those wait
    # here for a slot, so the trigger never runs more than its concurrency and never asks the
    # server for a batch of nothing (which the server refuses).
    waiting: deque[Msg] = deque()
    while True:
        free = await slots.wait_free()
        if not waiting:
            try:
                waiting.extend(await subscription.fetch(free, timeout=_FETCH_WAIT_S))
            except FetchTimeout:
                continue
        for _ in range(min(free, len(waiting))):
            slots.run(_one_jetstream(client, s, delivery, waiting.popleft()))


async def _one_jetstream(client: Client, s: Subscription, delivery: Delivery, message: Msg) -> None:
    attempt = message.metadata.num_delivered or 1
    problem = await delivery.run(message.data, dict(message.headers or {}), attempt)
    if problem is None:
        await message.ack()
    elif attempt < s.spec.attempts:
        await message.nak(delay=s.backoff_s(attempt))
    else:
        await _dead_letter(client, s, message, problem)
        await message.ack()


async def _core(
    client: Client,
    s: Subscription,
    delivery: Delivery,
    slots: Slots,
    report: Callable[[str], None],
) -> None:
    async def received(message: Msg) -> None:
        await slots.wait_free()  # holds the subscription's queue while every slot is busy
        slots.run(_one_core(client, s, delivery, message))

    # While every slot is busy, messages wait in nats-py's queue: bounded, so a flood cannot
    # fill the gateway's memory (past it the client drops them, at most once as core NATS is).
    await client.subscribe(
        s.subject,
        queue=s.durable,
        cb=received,
        pending_msgs_limit=_CORE_PENDING_PER_SLOT * s.spec.concurrency,
        pending_bytes_limit=_CORE_PENDING_BYTES,
    )
    await client.flush(timeout=5)  # the server has the subscription: messages from now on
    report("")
    await asyncio.Event().wait()  # until cancelled; nats-py reconnects underneath


async def _one_core(client: Client, s: Subscription, delivery: Delivery, message: Msg) -> None:
    headers = dict(message.headers or {})
    for attempt in range(1, s.spec.attempts + 1):
        problem = await delivery.run(message.data, headers, attempt)
        if problem is None:
            return
        if attempt < s.spec.attempts:
            await asyncio.sleep(s.backoff_s(attempt))
    await _dead_letter(client, s, message, problem or "")


async def _dead_letter(client: Client, s: Subscription, message: Msg, problem: str) -> None:
    gave_up(s, problem)
    if not s.dead_letter:
        return
    headers = {**(message.headers or {}), ERROR_HEADER: problem[:1000]}
    await client.publish(s.dead_letter, message.data, headers=headers)
    await client.flush(timeout=5)
