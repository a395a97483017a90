"""NATS through nats-py: core publish, and request/reply on the connection's own inbox.

nats-py keeps one connection and reconnects by itself (``max_reconnect_attempts=-1``),
buffering publishes while it does. It would also connect to servers a NATS cluster announces
(``connect_urls``), which the egress policy never checked: the reconnect handler always picks
the checked address instead. The message key goes out as the ``Nats-Msg-Id`` header, which
JetStream uses to drop duplicates.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client, Server

from .address import BrokerAddress
from .interface import BrokerError, Message, Reply, timed_out, unavailable

CONNECT_TIMEOUT_S = 3
RECONNECT_WAIT_S = 0.5
KEY_HEADER = "Nats-Msg-Id"
JETSTREAM_ACK_TIMEOUT_S = 5.0


class NatsBroker:
    kind = "nats"

    def __init__(self, client: Client, shown: str):
        self._client = client
        self.shown = shown

    @classmethod
    async def connect(cls, address: BrokerAddress) -> NatsBroker:
        host = f"[{address.address}]" if ":" in address.address else address.address
        server = f"nats://{host}:{address.port}"
        tls = ssl.create_default_context() if address.scheme == "tls" else None

        def same_server(
            servers: list[Server], _info: dict[str, Any]
        ) -> tuple[Server | None, float]:
            checked = [s for s in servers if s.uri.netloc.endswith(f"{host}:{address.port}")]
            return (checked[0] if checked else None), RECONNECT_WAIT_S

        errors: list[Exception] = []

        async def remember(error: Exception) -> None:
            """Connect and reconnect attempts report here; the step that needs the broker says
            why (the last one)."""
            del errors[:-1]
            errors.append(error)

        client = Client()
        try:
            # nats-py retries a first connection forever when reconnects are unbounded: bound it.
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await client.connect(
                    server,
                    user=address.username,
                    password=address.password,
                    tls=tls,
                    tls_hostname=address.host if tls else None,
                    connect_timeout=CONNECT_TIMEOUT_S,
                    reconnect_time_wait=RECONNECT_WAIT_S,  # type: ignore[arg-type]  # typed int, sleeps any number
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    reconnect_to_server_handler=same_server,
                    error_cb=remember,
                    name="flowhost-executor",
                )
        except Exception as error:  # nats-py raises many kinds, with and without messages
            await client.close()
            raise unavailable(address.shown, errors[-1] if errors else error) from None
        return cls(client, address.shown)

    @property
    def closed(self) -> bool:
        return bool(self._client.is_closed)

    async def publish(self, message: Message) -> None:
        _subject_only(message)
        if message.jetstream:
            await self._stored(message)
            return
        try:
            await self._client.publish(
                message.destination, message.body, headers=_headers(message) or None
            )
        except nats.errors.BadSubjectError:
            raise _bad_subject(message.destination) from None
        except nats.errors.MaxPayloadError:
            raise BrokerError(
                f"message to {message.destination} is larger than {self.shown} accepts "
                f"({self._client.max_payload:,} bytes)",
                code="broker_refused",
            ) from None
        except nats.errors.Error as error:
            raise unavailable(self.shown, error) from None

    async def _stored(self, message: Message) -> None:
        """Publish through JetStream: done once the stream that stores the subject says so."""
        try:
            await self._client.jetstream().publish(
                message.destination,
                message.body,
                timeout=JETSTREAM_ACK_TIMEOUT_S,
                headers=_headers(message),
            )
        except nats.js.errors.NoStreamResponseError:
            raise BrokerError(
                f"no JetStream stream on {self.shown} stores {message.destination}",
                code="broker_unroutable",
            ) from None
        except nats.js.errors.APIError as error:
            raise BrokerError(
                f"JetStream on {self.shown} refused the message for {message.destination}: "
                f"{error.description or error}",
                code="broker_refused",
            ) from None
        except nats.errors.TimeoutError:
            raise BrokerError(
                f"JetStream on {self.shown} did not acknowledge {message.destination} within "
                f"{JETSTREAM_ACK_TIMEOUT_S:g}s",
                code="broker_timeout",
                retryable=True,
            ) from None
        except nats.errors.Error as error:
            raise unavailable(self.shown, error) from None

    async def request(self, message: Message, timeout_s: float) -> Reply:
        _subject_only(message)
        try:
            answer = await self._client.request(
                message.destination,
                message.body,
                timeout=timeout_s,
                headers=_headers(message) or None,
            )
        except nats.errors.TimeoutError:
            raise timed_out(self.shown, message.destination, timeout_s) from None
        except nats.errors.NoRespondersError:
            raise BrokerError(
                f"nothing on {self.shown} answers {message.destination} (no responders)",
                code="broker_no_responders",
                retryable=True,
            ) from None
        except nats.errors.BadSubjectError:
            raise _bad_subject(message.destination) from None
        except nats.errors.Error as error:
            raise unavailable(self.shown, error) from None
        headers = {str(k): str(v) for k, v in (answer.headers or {}).items()}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        return Reply(answer.data, content_type, headers)

    async def aclose(self) -> None:
        if not self._client.is_closed:
            await self._client.close()


def _headers(message: Message) -> dict[str, str]:
    headers = dict(message.headers)
    headers.setdefault("Content-Type", message.content_type)
    if message.key is not None:
        headers[KEY_HEADER] = message.key
    return headers


def _subject_only(message: Message) -> None:
    if message.kind != "subject":
        raise BrokerError(
            f"NATS has subjects, not {message.kind}s: give subject", code="broker_destination"
        )


def _bad_subject(subject: str) -> BrokerError:
    return BrokerError(f"{subject!r} is not a NATS subject", code="broker_destination")
