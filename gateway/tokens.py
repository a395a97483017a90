"""How runtime users' tokens are kept: hashed, by the store, and compared by the authenticator."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex.

    A fast hash is right here, unlike for passwords: tokens are 32 random bytes, so there is no
    dictionary to try and 2**256 guesses is out of reach however fast each one is. A slow hash
    (bcrypt, scrypt) would only cost every uncached request milliseconds of CPU.
    """
    return hashlib.sha256(token.encode()).hexdigest()
