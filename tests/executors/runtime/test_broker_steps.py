"""The publish and request steps against the real NATS and RabbitMQ on 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import nats
import pytest

from executors.runtime import Document, PackageInvalid, load_package
from executors.runtime.brokers.pool import BROKERS
from executors.runtime.policy import ExecutionLimits, RuntimePolicy
from executors.testing import compile_package, values
from executors.testing import run_process as _run_process

from .brokers_util import AMQP_URL, NATS_URL, CuttableProxy, broker_package, listening, unique

LOOPBACK = RuntimePolicy(allow_loopback=True)  # the brokers are on 127.0.0.1
run_process = functools.partial(_run_process, policy=LOOPBACK)

needs_nats = pytest.mark.skipif(not listening(4222), reason="no NATS server on 127.0.0.1:4222")
needs_rabbit = pytest.mark.skipif(
    not listening(5672), reason="no RabbitMQ server on 127.0.0.1:5672"
)


@pytest.fixture(autouse=True)
async def fresh_pool() -> AsyncIterator[None]:
    """Each test runs on its own event loop: its connections must not outlive it."""
    yield
    await BROKERS.aclose()


@pytest.fixture
async def nc() -> AsyncIterator[nats.NATS]:
    client = await nats.connect(NATS_URL)
    yield client
    await client.close()


@needs_nats
async def test_request_over_nats_gives_the_reply_as_the_document(nc: nats.NATS) -> None:
    async def respond(msg: Any) -> None:  # no headers: a reply that parses is JSON
        await nc.publish(msg.reply, b'{"orderId": "%s", "state": "open"}' % msg.data[12:14])

    prefix = unique("p")
    await nc.subscribe(f"orders.{prefix}.get-order.v1", cb=respond)
    await nc.flush()
    result = await run_process(
        broker_package(
            "- request: {broker: bus, subject: 'orders.{prefix}.get-order.{suffix}', timeout: 2s}\n"
            "- return: {}"
        ),
        "p",
        [{"orderId": "42"}],
        config={"bus": NATS_URL, "prefix": prefix, "suffix": "v1"},
    )
    assert result.status == "ok", result.error
    assert values(result) == [{"orderId": "42", "state": "open"}]
    assert result.documents[0].properties["broker_content_type"] == ""

    async def text(msg: Any) -> None:
        headers = {"Content-Type": "text/plain", "Status": "partial"}
        await nc.publish(msg.reply, b"{not json", headers=headers)

    await nc.subscribe(f"orders.{prefix}.get-order.v2", cb=text)
    await nc.flush()
    as_text = await run_process(
        broker_package(
            "- request: {broker: bus, subject: 'orders.{prefix}.get-order.v2'}\n- return: {}"
        ),
        "p",
        [{}],
        config={"bus": NATS_URL, "prefix": prefix},
    )
    assert values(as_text) == ["{not json"]
    assert as_text.documents[0].properties["broker_content_type"] == "text/plain"
    assert as_text.documents[0].properties["broker_header_Status"] == "partial"


@needs_nats
async def test_publish_sends_headers_key_and_body_per_document(nc: nats.NATS) -> None:
    subject = unique("created.")
    sub = await nc.subscribe(subject)
    await nc.flush()
    result = await run_process(
        broker_package(
            f"- publish: {{broker: bus, subject: '{subject}', key: .id,\n"
            "            headers: {source: '\"shop\"', n: .n}, body: '{id: .id}'}\n"
            "- return: {}"
        ),
        "p",
        [{"id": "a", "n": 1}, {"id": "b", "n": 2}],
        config={"bus": NATS_URL},
    )
    assert result.status == "ok", result.error
    assert values(result) == [{"id": "a", "n": 1}, {"id": "b", "n": 2}]  # passed on unchanged
    got = [await sub.next_msg(timeout=2) for _ in range(2)]
    assert [m.data for m in got] == [b'{"id":"a"}', b'{"id":"b"}']
    assert [m.headers["Nats-Msg-Id"] for m in got] == ["a", "b"]
    assert [m.headers["source"] for m in got] == ["shop", "shop"]
    assert [m.headers["n"] for m in got] == ["1", "2"]
    assert got[0].headers["Content-Type"] == "application/json"


@needs_nats
async def test_no_reply_in_time_is_broker_timeout_at_the_step_path(nc: nats.NATS) -> None:
    subject = unique("silent.")

    async def never(_msg: Any) -> None:
        """A responder that takes the request and never answers."""

    await nc.subscribe(subject, cb=never)
    await nc.flush()
    steps = f"- request: {{broker: bus, subject: '{subject}', timeout: 200ms}}\n- return: {{}}"
    started = time.monotonic()
    # The URL is a secret (masked in messages): one spelled unlike the shown `nats://host:port`.
    bus = {"bus": NATS_URL + "/"}
    result = await run_process(broker_package(steps), "p", [{}], config=bus)
    assert time.monotonic() - started < 2
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.code == "broker_timeout"
    assert result.error.step_path == "processes.p.steps[0]"
    assert f"no reply from {subject} on nats://127.0.0.1:4222 within 0.2s" in result.error.message

    caught = await run_process(
        broker_package(
            "- try:\n    steps:\n"
            f"      - request: {{broker: bus, subject: '{subject}', timeout: 100ms}}\n"
            "    catch:\n      - map: '{fallback: true, why: $docprops.error_message}'\n"
            "- return: {}"
        ),
        "p",
        [{}],
        config={"bus": NATS_URL},
    )
    assert caught.status == "ok", caught.error
    assert values(caught)[0]["fallback"] is True
    assert "no reply from" in values(caught)[0]["why"]


@needs_nats
async def test_nobody_listening_is_said_at_once(nc: nats.NATS) -> None:
    steps = f"- request: {{broker: bus, subject: '{unique('nobody.')}', timeout: 5s}}"
    started = time.monotonic()
    result = await run_process(broker_package(steps), "p", [{}], config={"bus": NATS_URL})
    assert result.error is not None and result.error.code == "broker_no_responders"
    assert time.monotonic() - started < 2


@needs_nats
async def test_a_reply_past_document_bytes_is_refused(nc: nats.NATS) -> None:
    subject = unique("big.")

    async def respond(msg: Any) -> None:
        await nc.publish(msg.reply, b'"' + b"x" * 5000 + b'"')

    await nc.subscribe(subject, cb=respond)
    await nc.flush()
    policy = RuntimePolicy(allow_loopback=True, limits=ExecutionLimits(document_bytes=1000))
    result = await _run_process(
        broker_package(f"- request: {{broker: bus, subject: '{subject}', timeout: 2s}}"),
        "p",
        [{}],
        config={"bus": NATS_URL},
        policy=policy,
    )
    assert result.error is not None and result.error.code == "limit_exceeded"
    assert "document_bytes (1,000)" in result.error.message


async def test_the_egress_policy_is_checked_before_connecting() -> None:
    # No policy: loopback is refused, whether or not anything listens there.
    steps = "- publish: {broker: bus, subject: a.b}"
    for url in ("nats://user:s3cret@127.0.0.1:4222", "amqp://guest:guest@localhost:1/"):
        result = await _run_process(broker_package(steps), "p", [{}], config={"bus": url})
        assert result.error is not None and result.error.code == "egress_refused"
        assert "loopback" in result.error.message
        assert "s3cret" not in result.error.message
        assert result.error.step_path == "processes.p.steps[0]"
    metadata = await _run_process(
        broker_package(steps), "p", [{}], config={"bus": "nats://169.254.169.254"}
    )
    assert metadata.error is not None and "always refused" in metadata.error.message


async def test_bad_broker_urls_and_missing_values_are_named() -> None:
    steps = "- publish: {broker: bus, subject: a.b}"
    cases = {
        "": "the configuration value 'bus' (the broker's URL) is not set",
        "http://127.0.0.1:4222": "broker URL has http; expected one of nats://",
        "nats://": "has no host",  # the URL itself is masked: `bus` is a password
        "nats://127.0.0.1:99999": "broker URL is not a URL",
        "amqps://127.0.0.1/": (
            "broker URL has amqps; expected one of nats://, tls://, amqp://, kafka://, redis://"
        ),
    }
    for url, expected in cases.items():
        result = await run_process(broker_package(steps), "p", [{}], config={"bus": url})
        assert result.error is not None, url
        assert expected in result.error.message, (url, result.error.message)


@needs_nats
async def test_hostile_destination_parts_are_refused(nc: nats.NATS) -> None:
    steps = "- publish: {broker: bus, subject: 'orders.{.region}.created'}"
    for region in ("eu.>", "*", "a b", "", None, True):
        result = await run_process(
            broker_package(steps), "p", [{"region": region}], config={"bus": NATS_URL}
        )
        assert result.error is not None, region
        assert result.error.code == "broker_destination", (region, result.error.message)
    unset = await run_process(
        broker_package("- publish: {broker: bus, subject: 'o.{prefix}'}"),
        "p",
        [{}],
        config={"bus": NATS_URL},
    )
    assert unset.error is not None
    assert "needs the configuration value 'prefix', which is not set" in unset.error.message


@needs_nats
async def test_the_connection_comes_back_after_it_drops(nc: nats.NATS) -> None:
    subject = unique("echo.")

    async def respond(msg: Any) -> None:
        await nc.publish(msg.reply, msg.data)

    await nc.subscribe(subject, cb=respond)
    await nc.flush()
    compiled = compile_package(
        broker_package(
            f"- request: {{broker: bus, subject: '{subject}', timeout: 1s}}\n- return: {{}}"
        )
    )
    async with CuttableProxy(4222) as proxy:
        config = {"bus": f"nats://127.0.0.1:{proxy.port}"}

        async def ask(n: int) -> Any:
            return await compiled.run("p", [numbered(n)], config=config, policy=LOOPBACK)

        first = await ask(1)
        assert first.status == "ok", first.error
        proxy.cut()
        deadline = time.monotonic() + 10
        while True:  # requests fail while the client reconnects, then succeed again
            again = await ask(2)
            if again.status == "ok" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert again.status == "ok", again.error
        assert values(again) == [{"n": 2}]
        assert proxy.connections == 2  # the same pooled client reconnected; no second one


def numbered(n: int) -> Document:
    return Document.from_value({"n": n})


@needs_rabbit
async def test_request_and_publish_over_rabbitmq() -> None:
    queue_name = unique("flowhost.test.orders.")
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, auto_delete=True)
        seen: list[aio_pika.abc.AbstractIncomingMessage] = []

        third = asyncio.Event()

        async def respond(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
            seen.append(incoming)
            if len(seen) == 3:
                third.set()
            if incoming.reply_to:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        b'{"answer": 42}',
                        content_type="application/json",
                        correlation_id=incoming.correlation_id,
                    ),
                    routing_key=incoming.reply_to,
                )

        await queue.consume(respond, no_ack=True)
        result = await run_process(
            broker_package(
                "- publish: {broker: bus, queue: '{prefix}', key: .id, headers: {h: .id}}\n"
                "- request: {broker: bus, queue: '{prefix}', timeout: 3s}\n"
                "- return: {}"
            ),
            "p",
            [{"id": "o-1"}],
            config={"bus": AMQP_URL, "prefix": queue_name},
        )
        assert result.status == "ok", result.error
        assert values(result) == [{"answer": 42}]
        assert result.documents[0].properties["broker_content_type"] == "application/json"
        published, requested = seen
        assert published.body == b'{"id":"o-1"}'
        assert published.message_id == "o-1"
        assert published.headers == {"h": "o-1"}
        assert requested.correlation_id and requested.reply_to.startswith("flowhost.reply.")

        unroutable = await run_process(
            broker_package("- publish: {broker: bus, queue: nowhere-flowhost-test}"),
            "p",
            [{}],
            config={"bus": AMQP_URL},
        )
        assert unroutable.error is not None and unroutable.error.code == "broker_unroutable"

        # A topic is an exchange, routed by the key. One that does not exist is refused, and
        # the refusal (the broker closes the channel it happened on) breaks nothing after it.
        await queue.bind("amq.topic", routing_key=f"{queue_name}.#")
        topic = "- publish: {broker: bus, topic: '{prefix}', key: .k}"
        missing = await run_process(
            broker_package(topic), "p", [{"k": "x"}], config={"bus": AMQP_URL, "prefix": "nope-x"}
        )
        assert missing.error is not None and missing.error.code == "broker_destination"
        assert "has no exchange 'nope-x'" in missing.error.message
        routed = await run_process(
            broker_package(topic),
            "p",
            [{"k": f"{queue_name}.created"}],
            config={"bus": AMQP_URL, "prefix": "amq.topic"},
        )
        assert routed.status == "ok", routed.error
        await asyncio.wait_for(third.wait(), 2)
        assert seen[2].routing_key == f"{queue_name}.created"

        unread = await channel.declare_queue(f"{queue_name}.unread", exclusive=True)
        silent = await run_process(
            broker_package(f"- request: {{broker: bus, queue: {unread.name}, timeout: 300ms}}"),
            "p",
            [{}],
            config={"bus": AMQP_URL},
        )
        assert silent.error is not None, "a request to a queue nobody reads"
        assert silent.error.code == "broker_timeout"


@needs_rabbit
async def test_the_rabbitmq_connection_comes_back_after_it_drops() -> None:
    queue_name = unique("flowhost.test.echo.")
    connection = await aio_pika.connect(AMQP_URL)
    async with connection, CuttableProxy(5672) as proxy:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, exclusive=True)

        async def echo(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
            assert incoming.reply_to
            await channel.default_exchange.publish(
                aio_pika.Message(incoming.body, correlation_id=incoming.correlation_id),
                routing_key=incoming.reply_to,
            )

        await queue.consume(echo, no_ack=True)
        compiled = compile_package(
            broker_package(
                f"- request: {{broker: bus, queue: {queue_name}, timeout: 1s}}\n- return: {{}}"
            )
        )
        config = {"bus": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}

        async def ask(n: int) -> Any:
            return await compiled.run("p", [numbered(n)], config=config, policy=LOOPBACK)

        first = await ask(1)
        assert first.status == "ok", first.error
        proxy.cut()
        deadline = time.monotonic() + 15
        while True:
            again = await ask(2)
            if again.status == "ok" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert again.status == "ok", again.error
        assert values(again) == [{"n": 2}]
        assert proxy.connections == 2


def test_compile_names_every_problem() -> None:
    text = broker_package(
        "- publish: {broker: 'not a name', subject: 'a.{1x}.b c', queue: q, colour: red}\n"
        "- request: {broker: bus, timeout: 0s, queue: q, headers: {'a b': .x}}"
    )
    with pytest.raises(PackageInvalid) as raised:
        load_package(text)
    issues = {str(issue) for issue in raised.value.issues}
    at = "processes.p.steps"
    assert (
        f"{at}[0].broker: expected the name of a configuration value holding the broker's URL"
        in issues
    )
    assert f"{at}[0]: give exactly one destination: subject or queue or topic" in issues
    assert f"{at}[0].colour: unknown key 'colour'" in issues
    assert any(i.startswith(f"{at}[0].subject: placeholder {{1x}}") for i in issues)
    assert any(i.startswith(f"{at}[0].subject: '.b c'") for i in issues)
    assert f"{at}[1].timeout: expected a timeout above zero" in issues
    assert f"{at}[1].headers: 'a b' is not a header name (letters, digits, - _ . …)" in issues
    assert len(issues) == 7, issues  # and nothing else


def test_the_configuration_values_a_broker_step_reads_must_be_declared() -> None:
    text = broker_package(
        "- try:\n    steps:\n      - request: {broker: elsewhere, subject: 'o.{region}.{prefix}'}"
    )
    with pytest.raises(PackageInvalid) as raised:
        load_package(text)
    assert [str(issue) for issue in raised.value.issues] == [
        "processes.p.steps[0].steps[0].broker: uses the configuration value 'elsewhere', "
        "which service.configuration does not declare",
        "processes.p.steps[0].steps[0].subject: uses the configuration value 'region', "
        "which service.configuration does not declare",
    ]


def test_the_broker_and_destination_values_are_the_operators() -> None:
    loaded = load_package(
        broker_package("- request: {broker: bus, subject: 'o.{prefix}.{suffix}.{.x}'}")
        .replace("- {name: suffix}", "- {name: suffix, set_by: flow}")
        .replace("type: password}", "}")
    )
    owners = {c.name: c.set_by for c in loaded.service.configuration}
    assert owners == {"bus": "operator", "prefix": "operator", "suffix": "flow"}


async def test_a_broker_that_is_not_there_fails_the_step_in_bounded_time() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        for url in (f"nats://127.0.0.1:{port}/", f"amqp://guest:guest@127.0.0.1:{port}/"):
            started = time.monotonic()
            result = await run_process(
                broker_package("- publish: {broker: bus, subject: a.b}"),
                "p",
                [{}],
                config={"bus": url},
                timeout_s=20,
            )
            assert result.error is not None, url
            assert result.error.code == "broker_unavailable", result.error
            assert result.error.retryable
            assert f"127.0.0.1:{port} is unavailable" in result.error.message
            assert time.monotonic() - started < 5, url  # never the execution's deadline


@needs_nats
@needs_rabbit
async def test_concurrent_requests_each_get_their_own_reply(nc: nats.NATS) -> None:
    """Twenty executions share one pooled connection per broker; replies come back out of
    order (later requests are answered first) and each reaches the request it answers."""
    subject = unique("echo.")
    queue_name = unique("flowhost.test.echo.")

    async def later_first(n: int) -> None:
        await asyncio.sleep(0.01 * (20 - n))

    async def nats_echo(msg: Any) -> None:
        async def answer() -> None:
            await later_first(json.loads(msg.data)["n"])
            await nc.publish(msg.reply, msg.data)

        asyncio.create_task(answer())  # noqa: RUF006  (the test waits for the replies)

    await nc.subscribe(subject, cb=nats_echo)
    await nc.flush()
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, exclusive=True)

        async def amqp_echo(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
            async def answer() -> None:
                await later_first(json.loads(incoming.body)["n"])
                assert incoming.reply_to
                await channel.default_exchange.publish(
                    aio_pika.Message(incoming.body, correlation_id=incoming.correlation_id),
                    routing_key=incoming.reply_to,
                )

            asyncio.create_task(answer())  # noqa: RUF006

        await queue.consume(amqp_echo, no_ack=True)
        for url, destination in (
            (NATS_URL, f"subject: {subject}"),
            (AMQP_URL, f"queue: {queue_name}"),
        ):
            compiled = compile_package(
                broker_package(
                    f"- request: {{broker: bus, {destination}, timeout: 3s}}\n- return: {{}}"
                )
            )
            results = await asyncio.gather(
                *(
                    compiled.run("p", [numbered(n)], config={"bus": url}, policy=LOOPBACK)
                    for n in range(20)
                )
            )
            assert [values(r) for r in results] == [[{"n": n}] for n in range(20)], url


@needs_nats
async def test_a_policy_change_connects_anew_and_old_connections_are_closed(
    nc: nats.NATS,
) -> None:
    """A connection is only used under the egress rule that checked it; of one URL, the
    connections of the last BrokerPool.KEEP rules stay open."""
    policies = [
        RuntimePolicy(allow_loopback=True, egress_allow=(f"127.0.0.0/{bits}",))
        for bits in range(8, 14)  # six rules, each allowing 127.0.0.1
    ]
    brokers = [await BROKERS.get(NATS_URL, policy) for policy in policies]
    assert len({id(b) for b in brokers}) == 6  # one connection per rule
    assert await BROKERS.get(NATS_URL, policies[-1]) is brokers[-1]  # reused under its rule
    assert [b.closed for b in brokers] == [True, True, False, False, False, False]


@needs_nats
async def test_jetstream_publish_waits_for_the_stream_and_drops_duplicate_keys(
    nc: nats.NATS,
) -> None:
    js = nc.jetstream()
    name = unique("FLOWHOST_TEST_")
    prefix = unique("js")
    await js.add_stream(name=name, subjects=[f"{prefix}.>"])
    try:
        steps = "- publish: {broker: bus, subject: '{prefix}.orders', key: .id, jetstream: true}"
        result = await run_process(
            broker_package(steps),
            "p",
            [{"id": "a"}, {"id": "a"}, {"id": "b"}],  # the second "a" is a duplicate by its key
            config={"bus": NATS_URL, "prefix": prefix},
        )
        assert result.status == "ok", result.error
        info = await js.stream_info(name)
        assert info.state.messages == 2
        stored = await js.get_msg(name, 1)
        assert stored.data == b'{"id":"a"}'

        nowhere = await run_process(
            broker_package(steps), "p", [{"id": "c"}], config={"bus": NATS_URL, "prefix": "none"}
        )
        assert nowhere.error is not None and nowhere.error.code == "broker_unroutable"
        assert "no JetStream stream on" in nowhere.error.message  # the URL itself is masked
        assert nowhere.error.message.endswith("stores none.orders")
    finally:
        await js.delete_stream(name)
    if listening(5672):
        not_nats = await run_process(
            broker_package("- publish: {broker: bus, queue: q, jetstream: true}"),
            "p",
            [{}],
            config={"bus": AMQP_URL},
        )
        assert not_nats.error is not None
        assert "jetstream: true is for NATS brokers" in not_nats.error.message
