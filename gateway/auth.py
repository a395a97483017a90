"""Basic auth of runtime users (on the Flow request path) and of the management API's admin.

`Authenticator` answers from memory only: the gateway loads it from `Store.credentials()` and
loads it again whenever the store's generation moves. A repeated header costs one dict lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store import Credential

__all__ = ["AuthError", "Authenticator", "RuntimeUser", "check_admin", "hash_token"]


@dataclass(frozen=True, slots=True)
class RuntimeUser:
    name: str
    runtime: str


class AuthError(Exception):
    """Credentials were missing, malformed or wrong; `code` is stable and machine-readable.

    The message never says which of user or token was wrong.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _missing() -> AuthError:
    return AuthError("missing_credentials", "missing credentials")


def _malformed() -> AuthError:
    return AuthError("malformed_credentials", "malformed basic auth header")


def _wrong() -> AuthError:
    return AuthError("invalid_credentials", "unknown user or wrong token")


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex.

    A fast hash is right here, unlike for passwords: tokens are 32 random bytes, so there is no
    dictionary to try and 2**256 guesses is out of reach however fast each one is. A slow hash
    (bcrypt, scrypt) would only cost every uncached request milliseconds of CPU.
    """
    return hashlib.sha256(token.encode()).hexdigest()


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


class Authenticator:
    """Runtime users' credentials in memory; `authenticate` does no I/O."""

    def __init__(self, *, cache_size: int = 1024) -> None:
        # How many successful header decodings are remembered. Cleared when full rather than
        # LRU: a hit then costs one dict lookup with no bookkeeping, and hot clients are few.
        self._cache_size = cache_size
        self._state = _Snapshot({}, {})

    def load(self, credentials: Iterable[Credential]) -> None:
        """Replace every known credential, and forget every remembered header.

        One assignment swaps both, so a header verified against old credentials (a rotated or
        removed token) can never be answered from the cache afterwards.
        """
        users = {c.name: (c.token_hash, RuntimeUser(c.name, c.runtime)) for c in credentials}
        self._state = _Snapshot(users, {})

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


def check_admin(header: bytes | str | None, username: str, password: str) -> None:
    """Accept only the management API's admin credentials; raise AuthError otherwise.

    Both parts are always compared in constant time. An empty configured password accepts
    nobody, so a missing setting cannot open the API.
    """
    name, secret = _parse_basic(header)
    name_ok = _equal(name, username)
    secret_ok = _equal(secret, password)
    if not (name_ok and secret_ok and password):
        raise _wrong()
