"""Where the gateway may deliver callbacks: the runtime's egress policy, on resolved addresses.

The same rule as the executors' `http` step (executors/runtime/egress.py; the two share only
protobuf, so this is the gateway's own small copy): link-local (cloud metadata), unspecified,
multicast and reserved addresses always refused; with an allow-list, only listed hosts,
`*.domains` and networks; loopback and private addresses only when the runtime allows them (or
lists their network). A callbackUri is checked when Flow sends it (`check_uri`, a 400 naming it)
and again at delivery, where the callback client's network backend resolves the host, checks
every address and connects to the one it checked.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from gateway.policy import RuntimePolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ALWAYS_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("fe80::/10", "link-local"),
        ("fd00:ec2::254/128", "cloud metadata"),
        ("100.100.100.200/32", "cloud metadata"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: How long checking a callbackUri at request time may spend resolving its host.
RESOLVE_TIMEOUT_S = 2.0

_delivering: contextvars.ContextVar[RuntimePolicy | None] = contextvars.ContextVar(
    "flowhost_callback_policy", default=None
)
_DEFAULT = RuntimePolicy()


class EgressRefused(Exception):
    """The runtime's policy does not allow this destination; nothing was connected."""


def delivering_for(policy: RuntimePolicy) -> contextvars.Token[RuntimePolicy | None]:
    """Connections made by this task (one delivery) are checked against `policy`."""
    return _delivering.set(policy)


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


@functools.lru_cache(maxsize=64)
def _allow_list(
    entries: tuple[str, ...],
) -> tuple[frozenset[str], tuple[str, ...], list[IPNetwork]]:
    names: set[str] = set()
    domains: list[str] = []
    networks: list[IPNetwork] = []
    for entry in entries:
        if entry.startswith("*."):
            domains.append(entry[1:])
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return frozenset(names), tuple(domains), networks


def refusal(policy: RuntimePolicy, host: str, address: IPAddress) -> str | None:
    """Why `host` at `address` may not be called back under `policy`, or None."""
    ip = _embedded_ipv4(address)
    shown = f"{host} ({address})" if host != str(address) else host
    for network, why in _ALWAYS_REFUSED:
        if ip.version == network.version and ip in network:
            return f"{shown} is {why}: always refused"
    names, domains, networks = _allow_list(policy.egress_allow)
    listed_network = any(ip.version == n.version and ip in n for n in networks)
    if policy.egress_allow:
        name = host.lower().rstrip(".")
        if not (listed_network or name in names or name.endswith(domains)):
            return f"{shown} is not in the runtime's egress allow-list"
    if listed_network:
        return None
    if ip.is_loopback:
        return None if policy.allow_loopback else f"{shown} is loopback, not allowed"
    if not ip.is_global and not policy.allow_private:
        return f"{shown} is a private address, not allowed"
    return None


async def resolve(host: str, port: int, timeout_s: float | None) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


async def pin(policy: RuntimePolicy, host: str, port: int) -> IPAddress:
    """The first address of `host` that `policy` allows: connect to it, as a literal, so the
    name cannot resolve elsewhere between this check and the connection (nor to another of its
    addresses). Raises EgressRefused naming the first refusal when none passes, and
    httpcore.ConnectError / ConnectTimeout when the name does not resolve."""
    reasons = []
    for address in await resolve(host, port, RESOLVE_TIMEOUT_S):
        reason = refusal(policy, host, address)
        if reason is None:
            return address
        reasons.append(reason)
    raise EgressRefused(reasons[0] if reasons else f"{host} has no address")


async def check_uri(policy: RuntimePolicy, host: str, port: int) -> str | None:
    """Why a callbackUri's host may not be called back, or None: the literal address, or what
    the name resolves to now. A name that does not resolve now is left to delivery."""
    try:
        await pin(policy, host, port)
    except EgressRefused as refused:
        return str(refused)
    except (httpcore.ConnectError, httpcore.ConnectTimeout):
        return None
    return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: RuntimePolicy) -> None:
        self._policy = policy
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        policy = self._policy
        refused: list[str] = []
        failure: Exception | None = None
        for address in await resolve(host, port, timeout):
            reason = refusal(policy, host, address)
            if reason is not None:
                refused.append(reason)
                continue
            try:
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        if failure is not None:
            raise failure
        raise EgressRefused(refused[0] if refused else f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not callback destinations")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool that connects through the egress check (httpx takes no
    network backend, so its pool is replaced by an equal one that has it)."""

    def __init__(self, policy: RuntimePolicy, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )


class GuardedTransport(httpx.AsyncBaseTransport):
    """The callback client's transport: one checked pool per egress rule in use.

    Runtimes with different rules share the callback client, and a pooled connection was
    checked under the rule of the delivery that opened it; one pool per rule means it is only
    reused under that rule. The pools of the last `KEEP` rules are kept, older ones closed.
    """

    KEEP = 16

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._transports: dict[tuple[tuple[str, ...], bool, bool], _GuardedTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = _delivering.get() or _DEFAULT
        rule = (policy.egress_allow, policy.allow_loopback, policy.allow_private)
        transport = self._transports.get(rule)
        if transport is None:
            transport = self._transports[rule] = _GuardedTransport(policy, self._limits)
            while len(self._transports) > self.KEEP:
                await self._transports.pop(next(iter(self._transports))).aclose()
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()
