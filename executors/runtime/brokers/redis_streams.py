"""Redis Streams through redis-py's asyncio client: one entry per message, replies on a stream
of this connection.

A ``topic`` is a stream; an entry holds the fields ``body``, ``content-type``, ``key`` (when the
step gives one) and one field per header (the named fields win over a header of the same name).
``request`` adds ``reply_to`` (``flowhost.reply.<id>``, this connection's reply stream) and
``correlation_id``; a replier adds an entry with ``body``, ``correlation_id`` and, if it likes,
``content-type`` to ``reply_to``. A reader hands each reply to the request waiting for its id
and deletes what it read; the reply stream is deleted when the connection closes.

redis-py reconnects by itself: each command takes a pooled connection and re-opens one that
dropped (retried with back-off); the reader starts again after a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from ..errors import StepError
from .address import BrokerAddress
from .interface import BrokerError, Message, Reply, timed_out, unavailable

CONNECT_TIMEOUT_S = 3.0
#: How long one read of the reply stream blocks (the socket timeout is above it).
READ_BLOCK_MS = 500
RECONNECT_WAIT_S = 0.5
RESERVED = ("body", "content-type", "key", "reply_to", "correlation_id")


class RedisStreamsBroker:
    kind = "redis"

    def __init__(self, client: redis.asyncio.Redis, shown: str):
        self._client = client
        self._reply_stream = f"flowhost.reply.{uuid.uuid4().hex}"
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._closed = False
        self.shown = shown

    @classmethod
    async def connect(cls, address: BrokerAddress) -> RedisStreamsBroker:
        database = address.path.strip("/") or "0"
        if not database.isdigit():
            raise StepError("redis:// URL path must be a database number (/0)", code="broker_url")
        client = redis.asyncio.Redis(
            host=address.address,
            port=address.port,
            db=int(database),
            username=address.username,
            password=address.password,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=READ_BLOCK_MS / 1000 + CONNECT_TIMEOUT_S,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 3),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
            client_name="flowhost-executor",
        )
        try:
            await client.ping()
        except redis.exceptions.RedisError as error:
            await client.aclose()
            raise unavailable(address.shown, error) from None
        return cls(client, address.shown)

    @property
    def closed(self) -> bool:
        return self._closed

    async def publish(self, message: Message) -> None:
        await self._add(message, {})

    async def request(self, message: Message, timeout_s: float) -> Reply:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())
        correlation = uuid.uuid4().hex
        waiting: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = waiting
        try:
            async with asyncio.timeout(timeout_s):
                extra = {"reply_to": self._reply_stream, "correlation_id": correlation}
                await self._add(message, extra)
                return await waiting
        except TimeoutError:
            raise timed_out(self.shown, message.destination, timeout_s) from None
        finally:
            self._waiting.pop(correlation, None)

    async def aclose(self) -> None:
        # The reader ends after its current read: cancelling redis-py inside a blocking command
        # can leave the client waiting on that connection.
        self._closed = True
        if self._reader is not None:
            with contextlib.suppress(redis.exceptions.RedisError, TimeoutError):
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await self._client.delete(self._reply_stream)
            with contextlib.suppress(TimeoutError):  # then wait_for has cancelled it
                await asyncio.wait_for(self._reader, READ_BLOCK_MS / 1000 + CONNECT_TIMEOUT_S)
        await self._client.aclose()

    async def _add(self, message: Message, extra: dict[str, str]) -> None:
        if message.kind != "topic":
            raise BrokerError(
                f"Redis Streams has streams: give topic, not {message.kind}",
                code="broker_destination",
            )
        fields: dict[Any, Any] = dict(message.headers)
        fields.update(body=message.body, **{"content-type": message.content_type}, **extra)
        if message.key is not None:
            fields["key"] = message.key
        try:
            await self._client.xadd(message.destination, fields)
        except redis.exceptions.ResponseError as error:  # e.g. the key holds no stream
            raise BrokerError(
                f"{self.shown} refused the entry for {message.destination}: {error}",
                code="broker_refused",
            ) from None
        except redis.exceptions.RedisError as error:
            raise unavailable(self.shown, error) from None

    async def _read(self) -> None:
        last = "0-0"  # the stream is new and only ours: everything in it is a reply to us
        while not self._closed:
            try:
                found: Any = await self._client.xread(
                    {self._reply_stream: last}, block=READ_BLOCK_MS
                )
            except redis.exceptions.RedisError:
                await asyncio.sleep(RECONNECT_WAIT_S)  # dropped: redis-py reconnects next read
                continue
            read: list[Any] = []
            for _stream, entries in found:
                for entry_id, fields in entries:
                    last = entry_id
                    read.append(entry_id)
                    self._hand_over(fields)
            if read:
                with contextlib.suppress(redis.exceptions.RedisError):
                    await self._client.xdel(self._reply_stream, *read)

    def _hand_over(self, fields: dict[bytes, bytes]) -> None:
        text = {k.decode(errors="replace"): v for k, v in fields.items()}
        waiting = self._waiting.get(text.get("correlation_id", b"").decode(errors="replace"))
        if waiting is None or waiting.done():
            return  # late (timed out) or foreign: nobody waits for it
        headers = {k: v.decode(errors="replace") for k, v in text.items() if k not in RESERVED}
        content_type = text.get("content-type", b"").decode(errors="replace")
        waiting.set_result(Reply(text.get("body", b""), content_type, headers))
