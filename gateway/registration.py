"""Executors joining and leaving at run time: who may, and what a registration must say.

An executor started with `--gateway URL` registers (runtime, the address to dial), renews and
leaves over the management API, each message signed with the cluster token:

    X-Flowhost-Executor-Signature: t=<unix ms>;sig=<hex>[,<hex>...]
    sig = HMAC-SHA256(token, "flowhost-registration-v1\\n" METHOD "\\n" PATH "\\n" t "\\n" body)

(one sig per token the executor accepts, so a token rotation never locks it out; the gateway
checks at most MAX_SIGNATURES against its own token, in constant time each). Without the token
nobody can make a valid signature: an attacker on the network can neither register an impostor
nor make a real executor leave. A captured message is useless later: `t` must be within
`registration_clock_skew_s` of the gateway's clock and newer than the last message accepted for
that address (kept in the shared store, so a message replayed to another gateway is refused too).
A registration only says where to dial: the gateway still proves the executor is of its cluster
with the Describe nonce challenge (`gateway/link.py`) before it gets a deployment or a request.

A gateway with mTLS only (no cluster token) refuses registrations: it has no secret to check the
signature with; such clusters find executors by FLOWHOST_EXECUTOR_TARGETS or DNS.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import BadRequest, Forbidden, Unauthorized
from gateway.lifecycle import Lifecycle
from gateway.store.registrations import Registration, RegistrationStore

SIGNATURE_HEADER = "x-flowhost-executor-signature"
SIGNED_PREFIX = b"flowhost-registration-v1\n"
#: Most signatures one message may carry (one per token during a rotation: two, usually).
MAX_SIGNATURES = 4
#: Longest address accepted (a DNS name is at most 253 characters, then ":" and a port).
ADDRESS_MAX = 260

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_address(address: str) -> str:
    """`address` if gateways can dial it (host:port, [v6]:port), else BadRequest naming why."""

    def refuse(why: str) -> BadRequest:
        return BadRequest(
            f"address {address[:ADDRESS_MAX]!r} {why}; give host:port (an IPv6 host in [])",
            code="invalid_address",
            details={"address": address[:ADDRESS_MAX]},
        )

    if len(address) > ADDRESS_MAX:
        raise refuse(f"is longer than {ADDRESS_MAX} characters (ADDRESS_MAX)")
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise refuse("is not host:port")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise refuse("has no port between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise refuse("has no valid IPv6 address in []") from None
    else:
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            labels = host.removesuffix(".").split(".")
            if ":" in host or len(host) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
                raise refuse("has no valid host name or IP address") from None
            return address
    if ip.is_unspecified:
        raise refuse("is an any-address nobody can dial (set the executor's --advertise)")
    return address


def signature(token: bytes, method: str, path: str, signed_at_ms: int, body: bytes) -> str:
    """The hex HMAC of one message (the executor's side computes the same)."""
    message = b"%s%s\n%s\n%d\n%s" % (
        SIGNED_PREFIX,
        method.encode(),
        path.encode(),
        signed_at_ms,
        body,
    )
    return hmac.new(token, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Signed:
    """A message whose signature checked out, and when it was signed."""

    signed_at_ms: int


class RegistrationGate:
    """Checks the signature and freshness of a registration message."""

    def __init__(
        self, token: str, clock_skew_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._token = token.encode()
        self._skew_ms = int(clock_skew_s * 1000)
        self._clock = clock

    def check(self, method: str, path: str, header: str | None, body: bytes) -> Signed:
        if not self._token:
            raise Forbidden(
                "this gateway has no cluster token (FLOWHOST_LINK_TOKEN), so it cannot check an "
                "executor's registration; list executors in FLOWHOST_EXECUTOR_TARGETS or "
                "FLOWHOST_EXECUTOR_DNS instead",
                code="registration_disabled",
            )
        if not header:
            raise Unauthorized(
                f"executor registration: no {SIGNATURE_HEADER} header (a signature with the "
                "cluster token)",
                code="signature_required",
            )
        fields = dict(part.strip().partition("=")[::2] for part in header.split(";"))
        stamp, sigs = fields.get("t", ""), fields.get("sig", "")
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 16 or not sigs:
            raise Unauthorized(
                f"executor registration: {SIGNATURE_HEADER} is not t=<unix ms>;sig=<hex>",
                code="bad_signature",
            )
        signed_at_ms = int(stamp)
        expected = signature(self._token, method, path, signed_at_ms, body).encode()
        offered = [s.strip().encode() for s in sigs.split(",")[:MAX_SIGNATURES]]
        if not any(hmac.compare_digest(expected, s) for s in offered):  # bytes: any header
            raise Unauthorized(
                "executor registration: the signature is not made with this cluster's token",
                code="bad_signature",
            )
        off_ms = signed_at_ms - int(self._clock() * 1000)
        if abs(off_ms) > self._skew_ms:
            raise Unauthorized(
                f"executor registration: signed {off_ms / 1000:+.1f}s from this gateway's clock, "
                f"more than the {self._skew_ms / 1000:g}s allowed "
                "(FLOWHOST_REGISTRATION_CLOCK_SKEW_S): an old message, or clocks not in sync",
                code="signature_expired",
            )
        return Signed(signed_at_ms)


class Registrations(Lifecycle):
    """Registration as the API serves it: checked, stored, and the reconciler woken.

    Started before the reconciler and stopped after it, before the store: a store read still
    running in its thread when the reconciler stops is waited for, not left to use a closed
    store (cancelling the awaiting task does not stop the thread)."""

    def __init__(
        self,
        gate: RegistrationGate,
        store: RegistrationStore,
        ttl_s: float,
        wake: Callable[[], None],
        forget: Callable[[str], None],
    ) -> None:
        self._gate = gate
        self._store = store
        self.ttl_s = ttl_s
        self._wake = wake
        #: Stops routing to an address at once (the reconciler's woken pass then drops it).
        self._forget = forget
        self._reads: set[asyncio.Future[list[Registration]]] = set()

    async def start(self) -> None:
        """Nothing to start: the store is open."""

    async def stop(self) -> None:
        await asyncio.gather(*self._reads, return_exceptions=True)

    def check(self, method: str, path: str, header: str | None, body: bytes) -> Signed:
        return self._gate.check(method, path, header, body)

    async def join(self, signed: Signed, address: str, runtime: str, executor_id: str) -> None:
        """Store (or renew) the registration and wake the reconciler, which dials it now.
        Raises BadRequest (address), UnknownRuntime / InvalidName, Unauthorized (a replay)."""
        check_address(address)
        stored = await asyncio.to_thread(
            self._store.register, address, runtime, executor_id, signed.signed_at_ms, self.ttl_s
        )
        if not stored:
            raise _replayed(address)
        self._wake()

    async def leave(self, signed: Signed, address: str) -> None:
        """Expire the registration, route nothing more to it from this answer on, and wake the
        reconciler, which closes its connection once its requests have answered."""
        check_address(address)
        if not await asyncio.to_thread(self._store.leave, address, signed.signed_at_ms):
            raise _replayed(address)
        self._forget(address)
        self._wake()

    async def addresses(self) -> set[str]:
        """The addresses of the live registrations (the reconciler dials them)."""
        read = asyncio.ensure_future(asyncio.to_thread(self._store.live))
        self._reads.add(read)
        read.add_done_callback(self._reads.discard)
        return {r.address for r in await asyncio.shield(read)}


def _replayed(address: str) -> Unauthorized:
    return Unauthorized(
        f"executor registration for {address}: a message signed as late or later was accepted "
        "already (a replay, or two executors advertising one address)",
        code="signature_replayed",
    )
