"""Failed admin logins, throttled per client address.

An address may fail `free` times in a row; each further failure locks it out, for `lockout_s`
first and twice as long each time after, up to `lockout_max_s`. While locked out, its requests
are answered 429 with `Retry-After` without looking at the credentials, so guessing goes no
faster than the lockouts allow (at the maximum, one guess per `lockout_max_s`). A success clears
the address; other addresses are never slowed. IPv6 clients count per /64, the block one host
usually holds. Memory is bounded: at most `max_addresses` are remembered, and when full the one
that failed least recently is forgotten.

In memory, per gateway: several gateways behind a load balancer each throttle on their own.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from gateway.errors import GatewayError

__all__ = ["LoginThrottle", "TooManyFailedLogins"]


class TooManyFailedLogins(GatewayError):
    status = 429
    code = "too_many_failed_logins"


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    forget_at: float = 0.0


def client_key(host: str | None) -> str:
    """The throttled unit of an address: itself for IPv4, its /64 for IPv6."""
    if not host:
        return ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LoginThrottle:
    def __init__(
        self,
        *,
        free: int = 5,
        lockout_s: float = 1.0,
        lockout_max_s: float = 300.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.free = free
        self.lockout_s = lockout_s
        self.lockout_max_s = lockout_max_s
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def check(self, host: str | None, now: float | None = None) -> None:
        """Raise TooManyFailedLogins while the address is locked out."""
        entry = self._failures.get(client_key(host))
        if entry is None:
            return
        now = time.monotonic() if now is None else now
        wait = entry.locked_until - now
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyFailedLogins(
                f"too many failed logins from this address: try again in {seconds} s "
                f"(after LOGIN_FAILURES_FREE={self.free} failures each one locks the address "
                f"out, doubling up to LOGIN_LOCKOUT_MAX_S={self.lockout_max_s:g})",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, host: str | None, now: float | None = None) -> None:
        key = client_key(host)
        now = time.monotonic() if now is None else now
        entry = self._failures.pop(key, None)
        if entry is None or now >= entry.forget_at:
            entry = _Failures()
        entry.count += 1
        beyond = entry.count - self.free
        if beyond > 0:
            lockout = min(self.lockout_max_s, self.lockout_s * 2 ** min(beyond - 1, 60))
            entry.locked_until = now + lockout
        entry.forget_at = max(now, entry.locked_until) + self.lockout_max_s
        self._failures[key] = entry  # most recently failed last
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, host: str | None) -> None:
        if self._failures:
            self._failures.pop(client_key(host), None)

    def __len__(self) -> int:
        return len(self._failures)
