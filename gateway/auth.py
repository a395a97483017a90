"""Basic auth of runtime users (on the Flow request path) and of the management API's admin.

`Authenticator` answers from memory only: the gateway loads it from `Store.credentials()` (and
the users' access rules, `AccessStore.all()`) and loads it again whenever the store's
generation moves. A repeated header costs one dict lookup.

A runtime user may also be bound to a client certificate (the SHA-256 fingerprint of its DER
form, which the HTTP protocol puts in the ASGI TLS extension), and may be restricted to client
networks and to named services: `authorize` checks those, only for a user that has them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.tokens import hash_token

if TYPE_CHECKING:
    from gateway.store import Credential, UserAccess

__all__ = [
    "CLIENT_CERT_SHA256",
    "Access",
    "AccessDenied",
    "AuthError",
    "Authenticator",
    "RuntimeUser",
    "check_admin",
    "check_admin_password",
    "hash_token",
]

# Where the HTTP protocol puts the client certificate's SHA-256 fingerprint (hex of the DER)
# in scope["extensions"]["tls"], beside the ASGI TLS extension's standard keys.
CLIENT_CERT_SHA256 = "flowhost.client_cert_sha256"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Access:
    """Where a runtime user may call from and what: empty means no restriction."""

    networks: tuple[Network, ...] = ()
    services: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuntimeUser:
    name: str
    runtime: str
    access: Access | None = None  # None: any address, any service of the runtime


class AuthError(Exception):
    """Credentials were missing, malformed or wrong; `code` is stable and machine-readable.

    The message never says which of user or token was wrong.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AccessDenied(AuthError):
    """The user is known, but may not make this call (answered 403)."""


def _missing() -> AuthError:
    return AuthError("missing_credentials", "missing credentials")


def _malformed() -> AuthError:
    return AuthError("malformed_credentials", "malformed basic auth header")


def _wrong() -> AuthError:
    return AuthError("invalid_credentials", "unknown user or wrong token")


def _parse_basic(header: bytes | str | None) -> tuple[str, str]:
    """Split `Basic base64(name:secret)` (RFC 7617) into name and secret, or raise AuthError."""
    if header is None:
        raise _missing()
    if isinstance(header, str):
        try:
            header = header.encode("ascii")
        except UnicodeEncodeError:
            raise _malformed() from None
    header = header.strip()
    if not header:
        raise _missing()
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        raise _malformed()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # bad base64, or not UTF-8 underneath
        raise _malformed() from None
    name, colon, secret = decoded.partition(":")
    if not colon or not name:
        raise _malformed()
    return name, secret


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# Compared against when the user is unknown, so an unknown user takes as long as a wrong token
# and response times do not tell which user names exist.
_DUMMY_HASH = hash_token("")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    users: dict[str, tuple[str, RuntimeUser]]  # name -> (token hash, user)
    verified: dict[bytes | str, RuntimeUser]  # header -> user, successes only
    certificates: dict[str, RuntimeUser]  # client certificate SHA-256 (hex) -> user


class Authenticator:
    """Runtime users' credentials in memory; `authenticate` does no I/O."""

    def __init__(self, *, cache_size: int = 1024, trusted_proxies: Sequence[str] = ()) -> None:
        # How many successful header decodings are remembered. Cleared when full rather than
        # LRU: a hit then costs one dict lookup with no bookkeeping, and hot clients are few.
        self._cache_size = cache_size
        self._state = _Snapshot({}, {}, {})
        self._proxies = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)

    def load(self, credentials: Iterable[Credential], access: Iterable[UserAccess] = ()) -> None:
        """Replace every known credential and access rule, and forget every remembered header.

        One assignment swaps both, so a header verified against old credentials (a rotated or
        removed token) can never be answered from the cache afterwards.
        """
        rules = {a.name: a for a in access}
        users: dict[str, tuple[str, RuntimeUser]] = {}
        certificates: dict[str, RuntimeUser] = {}
        for c in credentials:
            rule = rules.get(c.name)
            limits = None
            if rule is not None and (rule.allow_ips or rule.services):
                limits = Access(
                    tuple(ipaddress.ip_network(n, strict=False) for n in rule.allow_ips),
                    frozenset(rule.services),
                )
            user = RuntimeUser(c.name, c.runtime, limits)
            users[c.name] = (c.token_hash, user)
            if rule is not None and rule.client_cert_sha256:
                certificates[rule.client_cert_sha256] = user
        self._state = _Snapshot(users, {}, certificates)

    def authenticate_certificate(self, fingerprint: str) -> RuntimeUser:
        """The runtime user bound to a (verified) client certificate, or AuthError."""
        user = self._state.certificates.get(fingerprint)
        if user is None:
            raise AuthError(
                "unknown_certificate", "no runtime user is bound to this client certificate"
            )
        return user

    def authorize(
        self,
        user: RuntimeUser,
        peer: str | None,
        forwarded_for: Sequence[bytes],
        service_path: str,
    ) -> None:
        """Raise AccessDenied unless `user` may call `service_path` from this client.

        The client is the connection's peer, or, when the peer is a trusted proxy, the last
        X-Forwarded-For address that is not one. The refusal names the reason and the client's
        own address, never the networks that would be allowed.
        """
        access = user.access
        if access is None:
            return
        if access.networks:
            client = self._client(peer, forwarded_for)
            if client is None or not any(client in n for n in access.networks):
                shown = str(client) if client is not None else "an unknown address"
                raise AccessDenied(
                    "address_not_allowed",
                    f"user '{user.name}' may not call from {shown}",
                )
        if access.services and service_path not in access.services:
            raise AccessDenied(
                "service_not_allowed",
                f"user '{user.name}' may not call service '{service_path}'",
            )

    def _client(
        self, peer: str | None, forwarded_for: Sequence[bytes]
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        address = _address(peer)
        if address is None or not self._proxies or not self._trusted(address):
            return address
        hops = [h.strip() for value in forwarded_for for h in value.decode("latin-1").split(",")]
        for hop in reversed(hops):
            forwarded = _address(hop)
            if forwarded is None:
                return None  # an unreadable hop: the client is not known
            if not self._trusted(forwarded):
                return forwarded
        return address

    def _trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in proxy for proxy in self._proxies)

    def authenticate(self, header: bytes | str | None) -> RuntimeUser:
        """The runtime user of an `Authorization` header value, or AuthError."""
        if header is None:
            raise _missing()
        state = self._state  # one read: a concurrent load() cannot mix old and new
        # A dict lookup hashes the header first (randomised per process), so timing it reveals
        # nothing usable about stored tokens.
        cached = state.verified.get(header)
        if cached is not None:
            return cached
        name, token = _parse_basic(header)
        entry = state.users.get(name)
        presented = hash_token(token)
        if entry is None:
            _equal(presented, _DUMMY_HASH)
            raise _wrong()
        stored, user = entry
        if not _equal(presented, stored):
            raise _wrong()
        if len(state.verified) >= self._cache_size:
            state.verified.clear()
        state.verified[header] = user
        return user


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return address


def check_admin(header: bytes | str | None, username: str, password: str) -> None:
    """Accept only the management API's admin credentials; raise AuthError otherwise.

    Both parts are always compared in constant time. An empty configured password accepts
    nobody, so a missing setting cannot open the API.
    """
    name, secret = _parse_basic(header)
    check_admin_password(name, secret, username, password)


def check_admin_password(name: str, secret: str, username: str, password: str) -> None:
    """`check_admin` for a name and password given apart (the console's sign-in form)."""
    name_ok = _equal(name, username)
    secret_ok = _equal(secret, password)
    if not (name_ok and secret_ok and password):
        raise _wrong()
