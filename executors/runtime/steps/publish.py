"""``publish``: one message per document to a broker (NATS, RabbitMQ, Kafka, Redis Streams).

    publish: {broker: ordersBroker, subject: 'orders.{prefix}.created.{suffix}',
              key: .orderId, headers: {source: '"shop"'}, body: '{id: .orderId}'}

``broker`` names a configuration value of the package whose value is the broker's URL
(``nats://…``, ``amqp://…``, ``kafka://…``, ``redis://…``): the operator's, never the caller's
(config_owners.py). The destination (``subject``, ``queue`` or ``topic``) is a pattern
(brokers/destinations.py); ``key``, ``headers`` and ``body`` are jq. The body is the
document's bytes unless ``body`` says otherwise (a string goes as text/plain, anything else as
JSON). Documents pass on unchanged. The connection comes from the executor's pool
(brokers/pool.py), checked against the runtime's egress policy before it is made. In a package
test the message goes to the test instead (answers.py), which may expect it (``published``).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from typing import Any

import orjson

from ..brokers.destinations import Pattern, compile_pattern
from ..brokers.interface import Broker, Message
from ..brokers.pool import BROKERS
from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram
from .set import as_property

DESTINATION_KEYS = ("subject", "queue", "topic")
#: A header name as HTTP and NATS spell one (RFC 9110 token): no spaces, colons or newlines.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAME = "broker"


class Outgoing:
    """What the broker steps share: where to send, and how a document becomes a message."""

    __slots__ = ("body", "broker", "destination", "headers", "key", "kind")

    def __init__(
        self,
        broker: str,
        kind: str,
        destination: Pattern,
        key: JqProgram | None,
        headers: list[tuple[str, JqProgram]],
        body: JqProgram | None,
    ):
        self.broker = broker
        self.kind = kind
        self.destination = destination
        self.key = key
        self.headers = headers
        self.body = body

    async def connect(self, ctx: RunContext) -> Broker:
        url = ctx.config.get(self.broker)
        if not isinstance(url, str) or not url:
            raise StepError(
                f"the configuration value {self.broker!r} (the broker's URL) is not set: "
                f"flowhost config set {self.broker} URL --runtime R --secret",
                code="broker_url",
            )
        return await BROKERS.get(url, ctx.policy)

    async def message(self, document: Document, ctx: RunContext) -> Message:
        headers = {}
        for name, program in self.headers:
            value = as_property(await program.first(document, ctx))
            if value is not None:
                headers[name] = value
        key = None
        if self.key is not None:
            key = as_property(await self.key.first(document, ctx))
        if self.body is None:
            body, content_type = document.raw, "application/json"
        else:
            value = await self.body.first(document, ctx)
            if isinstance(value, str):
                body, content_type = value.encode(), "text/plain; charset=utf-8"
            else:
                body, content_type = orjson.dumps(value), "application/json"
        destination = await self.destination.expand(document, ctx)
        return Message(self.kind, destination, body, content_type, headers, key)


class Publish:
    __slots__ = ("jetstream", "outgoing")

    def __init__(self, outgoing: Outgoing, jetstream: bool):
        self.outgoing = outgoing
        self.jetstream = jetstream

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        if ctx.answers is not None:  # a package test: the messages go to the test
            for document in documents:
                message = await self.outgoing.message(document, ctx)
                ctx.answers.publish(message.destination, _sent(message))
            return documents
        broker = await self.outgoing.connect(ctx)
        if self.jetstream and broker.kind != "nats":
            raise StepError(
                f"jetstream: true is for NATS brokers; {broker.shown} is {broker.kind}",
                code="broker_config",
            )
        for document in documents:
            message = await self.outgoing.message(document, ctx)
            await broker.publish(replace(message, jetstream=self.jetstream))
        return documents


def _sent(message: Message) -> dict[str, Any]:
    """What a test sees of a published message: its destination, body (JSON when it is JSON,
    else text), and its headers and key when it has them."""
    body: Any = message.body.decode("utf-8", errors="replace")
    if message.content_type == "application/json":
        # A document's raw bytes that are not JSON stay text.
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(message.body)
    sent: dict[str, Any] = {message.kind: message.destination, "body": body}
    if message.headers:
        sent["headers"] = dict(message.headers)
    if message.key is not None:
        sent["key"] = message.key
    return sent


def compile_outgoing(
    options: dict[str, Any], ctx: CompileContext, kinds: tuple[str, ...] = DESTINATION_KEYS
) -> Outgoing:
    """The shared keys of `publish` and `request`: broker, destination, key, headers, body."""
    broker = options.get(_NAME)
    if not isinstance(broker, str) or not broker.isidentifier():
        ctx.issue("expected the name of a configuration value holding the broker's URL", _NAME)
        broker = ""
    given = [kind for kind in kinds if kind in options]
    if len(given) != 1:
        ctx.issue(f"give exactly one destination: {' or '.join(kinds)}")
    kind = given[0] if given else kinds[0]
    destination = compile_pattern(options[kind], ctx, kind) if given else Pattern("", ())
    headers: list[tuple[str, JqProgram]] = []
    raw_headers = options.get("headers")
    if raw_headers is not None:
        if not isinstance(raw_headers, dict):
            ctx.issue("expected a mapping of header names to jq programs", "headers")
        else:
            headers = [(str(n), ctx.jq(p, f"headers.{n}")) for n, p in raw_headers.items()]
            for name, _ in headers:
                if not HEADER_NAME.fullmatch(name):
                    ctx.issue(
                        f"{name!r} is not a header name (letters, digits, - _ . …)", "headers"
                    )
    key = ctx.jq(options["key"], "key") if "key" in options else None
    body = ctx.jq(options["body"], "body") if "body" in options else None
    return Outgoing(broker, kind, destination, key, headers, body)


def compile_publish(config: Any, ctx: CompileContext) -> Publish:
    options = ctx.options(
        config,
        required=(_NAME,),
        optional=(*DESTINATION_KEYS, "key", "headers", "body", "jetstream"),
    )
    jetstream = options.get("jetstream", False)
    if not isinstance(jetstream, bool):
        ctx.issue(f"expected true or false, got {jetstream!r}", "jetstream")
        jetstream = False
    return Publish(compile_outgoing(options, ctx), jetstream)


step_type = StepTypeDef("publish", compile_publish)
