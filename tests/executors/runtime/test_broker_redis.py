"""The publish and request steps over Redis Streams, against the real Redis on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from executors.runtime import Document
from executors.runtime.brokers.pool import BROKERS
from executors.runtime.policy import RuntimePolicy
from executors.testing import compile_package, values
from executors.testing import run_process as _run_process

from .brokers_util import CuttableProxy, broker_package, listening, unique

pytestmark = pytest.mark.skipif(not listening(6379), reason="no Redis server on 127.0.0.1:6379")

LOOPBACK = RuntimePolicy(allow_loopback=True)
run_process = functools.partial(_run_process, policy=LOOPBACK)
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def client() -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis(host="127.0.0.1", port=6379)
    yield made
    await BROKERS.aclose()
    await made.aclose()


@contextlib.asynccontextmanager
async def responder(client: redis.asyncio.Redis, stream: str) -> AsyncIterator[None]:
    """Answers every entry of ``stream`` on its ``reply_to`` with its ``correlation_id``."""

    stop = asyncio.Event()

    async def answer() -> None:
        last = "0-0"
        while not stop.is_set():  # never cancelled inside a blocking read
            for _name, entries in await client.xread({stream: last}, block=100):
                for entry_id, fields in entries:
                    last = entry_id
                    await client.xadd(
                        fields[b"reply_to"],
                        {
                            "correlation_id": fields[b"correlation_id"],
                            "content-type": "application/json",
                            "body": b'{"asked": ' + fields[b"body"] + b"}",
                        },
                    )

    task = asyncio.create_task(answer())
    try:
        yield
    finally:
        stop.set()
        await task
        await client.delete(stream)


async def test_publish_adds_one_entry_per_document(client: redis.asyncio.Redis) -> None:
    stream = unique("flowhost.test.orders.")
    try:
        result = await run_process(
            broker_package(
                "- publish: {broker: bus, topic: '{prefix}', key: .id,\n"
                "            headers: {source: '\"shop\"'}}"
            ),
            "p",
            [{"id": "a"}, {"id": "b"}],
            config={"bus": REDIS_URL, "prefix": stream},
        )
        assert result.status == "ok", result.error
        entries = await client.xrange(stream)
        assert [fields for _id, fields in entries] == [
            {
                b"source": b"shop",
                b"body": body,
                b"content-type": b"application/json",
                b"key": key,
            }
            for body, key in ((b'{"id":"a"}', b"a"), (b'{"id":"b"}', b"b"))
        ]
    finally:
        await client.delete(stream)


async def test_request_over_redis_streams(client: redis.asyncio.Redis) -> None:
    stream = unique("flowhost.test.get.")
    async with responder(client, stream):
        result = await run_process(
            broker_package(
                f"- request: {{broker: bus, topic: {stream}, timeout: 3s}}\n- return: {{}}"
            ),
            "p",
            [{"n": 1}, {"n": 2}],
            config={"bus": REDIS_URL},
        )
    assert result.status == "ok", result.error
    assert values(result) == [{"asked": {"n": 1}}, {"asked": {"n": 2}}]
    assert result.documents[0].properties["broker_content_type"] == "application/json"

    nobody = unique("flowhost.test.nobody.")
    silent = await run_process(
        broker_package(f"- request: {{broker: bus, topic: {nobody}, timeout: 200ms}}"),
        "p",
        [{}],
        config={"bus": REDIS_URL},
    )
    assert silent.error is not None and silent.error.code == "broker_timeout"
    await client.delete(nobody)


async def test_the_redis_connection_comes_back_after_it_drops(client: redis.asyncio.Redis) -> None:
    stream = unique("flowhost.test.echo.")
    compiled = compile_package(
        broker_package(f"- request: {{broker: bus, topic: {stream}, timeout: 1s}}\n- return: {{}}")
    )
    async with responder(client, stream), CuttableProxy(6379) as proxy:
        config = {"bus": f"redis://127.0.0.1:{proxy.port}/0"}

        async def ask(n: int) -> Any:
            return await compiled.run(
                "p", [Document.from_value({"n": n})], config=config, policy=LOOPBACK
            )

        first = await ask(1)
        assert first.status == "ok", first.error
        proxy.cut()
        deadline = time.monotonic() + 10
        while True:
            again = await ask(2)
            if again.status == "ok" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert again.status == "ok", again.error
        assert values(again) == [{"asked": {"n": 2}}]


async def test_a_key_that_is_no_stream_is_refused(client: redis.asyncio.Redis) -> None:
    key = unique("flowhost.test.plain.")
    await client.set(key, "x")
    try:
        result = await run_process(
            broker_package(f"- publish: {{broker: bus, topic: {key}}}"),
            "p",
            [{}],
            config={"bus": REDIS_URL},
        )
        assert result.error is not None and result.error.code == "broker_refused"
        queue = await run_process(
            broker_package("- publish: {broker: bus, queue: q}"),
            "p",
            [{}],
            config={"bus": REDIS_URL},
        )
        assert queue.error is not None
        assert "Redis Streams has streams: give topic, not queue" in queue.error.message
    finally:
        await client.delete(key)
