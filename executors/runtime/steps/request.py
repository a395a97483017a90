"""``request``: publish each document, wait for the correlated reply; the reply is the document.

    request: {broker: ordersBroker, subject: 'orders.{prefix}.get-order.{suffix}', timeout: 5s}

The same keys as ``publish`` (steps/publish.py) plus ``timeout`` (default 5s). Replies are
correlated by the broker's own means: NATS's request inbox; on RabbitMQ ``reply_to`` (the
connection's exclusive reply queue) and a fresh ``correlation_id``; on Kafka the headers
``reply_to`` (the connection's reply topic) and ``correlation_id``. No reply in time fails the
step with ``broker_timeout`` (retryable; a `try` catches it). A reply longer than the policy's
``document_bytes`` is refused (``limit_exceeded``). The reply is parsed as JSON when its content
type says JSON or it has none and parses; otherwise it is a JSON string. Property
``broker_content_type`` is set, and ``broker_header_<name>`` for each header of the reply; the
request document's properties are kept. A request longer
than the action's sync timeout is just a long step: the gateway answers WAIT and calls back.
In a package test the reply is the test's canned ``request`` answer (answers.py): nothing
connects to a broker, and a request the test did not answer fails with ``unanswered_call``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..answers import Answers
from ..brokers.interface import Reply
from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..limits import limit_exceeded
from .publish import DESTINATION_KEYS, Outgoing, compile_outgoing

DEFAULT_TIMEOUT_S = 5.0
#: A reply's headers become document properties named with this prefix.
HEADER_PROPERTY = "broker_header_"


class Request:
    __slots__ = ("outgoing", "timeout_s")

    def __init__(self, outgoing: Outgoing, timeout_s: float):
        self.outgoing = outgoing
        self.timeout_s = timeout_s

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        broker = None if ctx.answers is not None else await self.outgoing.connect(ctx)
        limit = ctx.policy.limits.document_bytes
        output = []
        for document in documents:
            message = await self.outgoing.message(document, ctx)
            if broker is None:
                assert ctx.answers is not None
                reply = _canned(ctx.answers, message.destination)
            else:
                reply = await broker.request(message, self.timeout_s)
            if len(reply.body) > limit:
                raise limit_exceeded(
                    "document_bytes", limit, f"the reply from {message.destination} is larger"
                )
            output.append(_reply_document(reply, document))
        return output


def _canned(answers: Answers, destination: str) -> Reply:
    """A package test's answer to a request to ``destination``, as the reply it stands for."""
    answer = answers.answer("request", destination)
    if isinstance(answer.body, str):
        return Reply(answer.body.encode(), "text/plain; charset=utf-8", dict(answer.headers))
    return Reply(orjson.dumps(answer.body), "application/json", dict(answer.headers))


def _reply_document(reply: Reply, original: Document) -> Document:
    properties = dict(original.properties)
    for name, value in reply.headers.items():
        properties[f"{HEADER_PROPERTY}{name}"] = value
    properties["broker_content_type"] = reply.content_type
    media = reply.content_type.split(";", 1)[0].strip().lower()
    if not reply.body:
        return Document.from_bytes(b"null", properties)
    if media in ("", "application/json") or media.endswith("+json"):
        try:
            return Document(reply.body, orjson.loads(reply.body), properties)
        except orjson.JSONDecodeError:
            pass  # not JSON after all: kept as text, below
    return Document.from_value(reply.body.decode("utf-8", errors="replace"), properties)


def compile_request(config: Any, ctx: CompileContext) -> Request:
    options = ctx.options(
        config,
        required=("broker",),
        optional=(*DESTINATION_KEYS, "key", "headers", "body", "timeout"),
    )
    timeout_s = ctx.duration(options.get("timeout"), "timeout", DEFAULT_TIMEOUT_S)
    if timeout_s <= 0:
        ctx.issue("expected a timeout above zero", "timeout")
        timeout_s = DEFAULT_TIMEOUT_S
    return Request(compile_outgoing(options, ctx), timeout_s)


step_type = StepTypeDef("request", compile_request)
