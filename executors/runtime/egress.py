"""Where the `http` step may connect: the runtime's egress policy, checked on resolved addresses.

The check runs inside the HTTP client's network backend, at connect time: the host name is
resolved once, every address it gave is checked, and the connection goes to an address that
passed (never to a second lookup, so a name cannot rebind between check and connect). TLS still
verifies the URL's host name, since httpcore starts TLS with the origin's name. Redirect hops,
retries and new pooled connections all connect through here, so each is checked.

Rules, in order (docs/operations.md, "Runtime policies"):

1. link-local (169.254.0.0/16, fe80::/10, so cloud metadata), unspecified, multicast and
   reserved addresses are always refused;
2. when `egress_allow` lists anything, the host must match a listed name (`api.example.com`),
   a listed domain (`*.example.com`: its subdomains), or its address a listed network (CIDR);
3. loopback (127.0.0.0/8, ::1) is refused unless `allow_loopback`, other non-public addresses
   (RFC 1918, CGNAT, ULA, ...) unless `allow_private`; a listed network allows its addresses.

IPv4 addresses inside IPv6 ones (IPv4-mapped, NAT64, 6to4) are checked as the IPv4 address, and
odd IPv4 spellings (`0x7f000001`, `2130706433`, `127.1`) are whatever the resolver makes of them,
which is what would be connected to.

No SSRF-guard library on PyPI does this for httpx's async client (resolve, check, and connect
to the checked address); those found wrap `requests` or only pre-check the URL.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from .policy import RuntimePolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The policy of the execution running in this task (set by the engine for each run).
_current: contextvars.ContextVar[RuntimePolicy | None] = contextvars.ContextVar(
    "flowhost_runtime_policy", default=None
)
_DEFAULT = RuntimePolicy()


def set_current(policy: RuntimePolicy) -> contextvars.Token[RuntimePolicy | None]:
    """Make `policy` the one connections of this task (and tasks it starts) are checked by."""
    return _current.set(policy)


def reset_current(token: contextvars.Token[RuntimePolicy | None]) -> None:
    _current.reset(token)


def current_policy() -> RuntimePolicy:
    """The running execution's policy; the defaults outside any execution."""
    return _current.get() or _DEFAULT


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


class EgressRefused(Exception):
    """The runtime's policy does not allow this destination; nothing was connected."""


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64, 6to4), else itself."""
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
        entry = entry.strip().lower().rstrip(".")
        if entry.startswith("*."):
            domains.append(entry[1:])  # ".example.com"
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return frozenset(names), tuple(domains), networks


def refusal(policy: RuntimePolicy, host: str, address: IPAddress) -> str | None:
    """Why `host` at `address` may not be reached under `policy`, or None when it may."""
    ip = embedded_ipv4(address)
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
        if not policy.allow_loopback:
            return f"{shown} is loopback: the runtime does not allow loopback"
        return None
    if not ip.is_global and not policy.allow_private:
        return f"{shown} is a private address: the runtime does not allow private networks"
    return None


async def resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:  # noqa: ASYNC109
    """Every address `host` resolves to (an IP literal gives itself), in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the egress check between resolving and connecting."""

    def __init__(self, policy: Callable[[], RuntimePolicy] = current_policy) -> None:
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
        policy = self._policy()
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
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not reachable from processes")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool that connects through GuardedBackend.

    httpx takes no network backend, so the pool it built is replaced by an equal one that has
    it (the transport's request handling, exception mapping and close stay httpx's own).
    """

    def __init__(
        self,
        policy: Callable[[], RuntimePolicy] = current_policy,
        limits: httpx.Limits = httpx.Limits(),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


def _rule(policy: RuntimePolicy) -> tuple[tuple[str, ...], bool, bool]:
    return policy.egress_allow, policy.allow_loopback, policy.allow_private


class PolicyTransport(httpx.AsyncBaseTransport):
    """One GuardedTransport (one connection pool) per egress rule in use.

    A pooled connection was checked when it was opened; keeping one pool per rule means it is
    only ever reused under the rule that checked it, so a policy change takes effect for the
    very next request, not once idle connections expire. The pools of the last `KEEP` rules are
    kept; an older one is closed (a request still running on it fails, which takes more than
    `KEEP` policy changes during that request).
    """

    KEEP = 4

    def __init__(
        self,
        policy: Callable[[], RuntimePolicy] = current_policy,
        limits: httpx.Limits = httpx.Limits(),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._limits = limits
        self._ssl_context = ssl_context
        self._transports: dict[tuple[tuple[str, ...], bool, bool], GuardedTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self._policy()
        rule = _rule(policy)
        transport = self._transports.get(rule)
        if transport is None:
            transport = GuardedTransport(lambda: policy, self._limits, self._ssl_context)
            self._transports[rule] = transport
            while len(self._transports) > self.KEEP:
                await self._transports.pop(next(iter(self._transports))).aclose()
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()


def guarded_client(
    policy: Callable[[], RuntimePolicy] = current_policy,
    *,
    max_connections: int = 100,
    timeout_s: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The HTTP client processes use: every connection checked against the runtime's policy.

    Proxies from the environment are not used (`trust_env=False`): through a proxy, the policy
    would see the proxy's address instead of the destination.
    """
    return httpx.AsyncClient(
        transport=PolicyTransport(
            policy, httpx.Limits(max_connections=max_connections), ssl_context
        ),
        timeout=httpx.Timeout(timeout_s),
        trust_env=False,
    )
