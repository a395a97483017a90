"""What the broker steps need from a broker, whatever its kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..errors import StepError


@dataclass(frozen=True, slots=True)
class Message:
    """One outgoing message: its destination, bytes, headers and (optional) key.

    ``kind`` is the step key that named the destination: ``subject``, ``queue`` or ``topic``.
    """

    kind: str
    destination: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    #: NATS only: publish through JetStream and wait for the stream's acknowledgement.
    jetstream: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a request: bytes, headers and the content type the replier gave."""

    body: bytes
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Broker(Protocol):
    """A connected broker. Adapters reconnect by themselves; ``aclose`` ends the connection."""

    #: ``nats://host:port``: where it is, never with credentials (it goes into messages).
    shown: str
    #: ``nats``, ``rabbitmq``, ``kafka`` or ``redis``.
    kind: str

    @property
    def closed(self) -> bool:
        """True once the connection is gone for good (the pool then makes a new one)."""
        ...

    async def publish(self, message: Message) -> None: ...

    async def request(self, message: Message, timeout_s: float) -> Reply:
        """Publish ``message`` and wait for its correlated reply; raise ``broker_timeout``."""
        ...

    async def aclose(self) -> None: ...


class BrokerError(StepError):
    """A broker refused, failed or did not answer; ``code`` says which."""


def timed_out(shown: str, destination: str, timeout_s: float) -> BrokerError:
    return BrokerError(
        f"no reply from {destination} on {shown} within {timeout_s:g}s",
        code="broker_timeout",
        retryable=True,
    )


def unavailable(shown: str, cause: BaseException) -> BrokerError:
    text = str(cause) or type(cause).__name__  # many client errors carry no message
    return BrokerError(
        f"broker {shown} is unavailable: {text}", code="broker_unavailable", retryable=True
    )
