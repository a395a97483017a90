"""Where a broker connection may go: the runtime's egress policy, checked before connecting.

The same rules as the `http` step (egress.py): the host is resolved once, every address is
checked, and the adapter connects to the first address that passed, as an IP literal, so a
name cannot rebind to another address between the check and the connection (reconnects go to
that address too). A refusal is ``egress_refused`` naming the rule; nothing was connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpcore

from ..egress import refusal, resolve
from ..errors import StepError
from ..policy import RuntimePolicy
from .interface import unavailable

#: The broker kinds, by URL scheme, and their default ports.
DEFAULT_PORTS = {
    "nats": 4222,
    "tls": 4222,
    "amqp": 5672,
    "kafka": 9092,
    "redis": 6379,
}
RESOLVE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker URL taken apart, and the address that passed the egress check."""

    scheme: str
    host: str
    port: int
    address: str
    username: str | None
    password: str | None
    path: str
    query: str

    @property
    def shown(self) -> str:
        """``nats://host:port``: safe to put in a message (no credentials)."""
        return f"{self.scheme}://{_bracketed(self.host)}:{self.port}"


def parse(url: str) -> SplitResult:
    """The URL taken apart; raises ``broker_url`` naming what is wrong (never the URL itself,
    which may carry a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a bad port)
    except ValueError as error:
        raise StepError(f"broker URL is not a URL: {error}", code="broker_url") from None
    if parts.scheme not in DEFAULT_PORTS:
        kinds = ", ".join(f"{s}://" for s in DEFAULT_PORTS)
        shown = parts.scheme or "no scheme"
        raise StepError(f"broker URL has {shown}; expected one of {kinds}", code="broker_url")
    if not parts.hostname:
        raise StepError(f"broker URL {parts.scheme}:// has no host", code="broker_url")
    return parts


async def checked(url: str, policy: RuntimePolicy) -> BrokerAddress:
    """The broker at ``url`` with an address the policy allows, or raise StepError."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    shown = f"{parts.scheme}://{_bracketed(host)}:{port}"
    try:
        addresses = await resolve(host, port, RESOLVE_TIMEOUT_S)
    except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
        raise unavailable(shown, error) from None
    reasons = []
    for address in addresses:
        reason = refusal(policy, host, address)
        if reason is None:
            return BrokerAddress(
                parts.scheme,
                host,
                port,
                str(address),
                parts.username,
                parts.password,
                parts.path,
                parts.query,
            )
        reasons.append(reason)
    why = reasons[0] if reasons else f"{host} has no address"
    raise StepError(
        f"broker {shown} refused by the runtime's egress policy: {why}; nothing was connected",
        code="egress_refused",
    )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
