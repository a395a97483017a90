"""Webhook signatures: `X-Flowhost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The HMAC is over `"<t>.<body>"` with the secret from the operator's configuration, so a
signature binds the body to a time: one captured and sent again later than the replay window is
refused, as is one from the future beyond it (a clock far off). Several `v1=` entries may be
sent (while a secret is being rotated); any one matching is enough. The comparison is constant
time.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SignatureRefused", "sign", "verify"]

HEADER = b"x-flowhost-signature"
_MAX_HEADER_CHARS = 1024


class SignatureRefused(Exception):
    """Why a signature is not accepted: `code` for the caller, the message naming what."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on `body` at `timestamp`."""
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def verify(header: bytes | None, body: bytes, secret: str, now: float, window_s: int) -> None:
    """Accept a signature made with `secret` within `window_s` of `now`, or raise."""
    if header is None:
        raise SignatureRefused(
            "missing_signature", "no X-Flowhost-Signature header and no basic credentials"
        )
    if len(header) > _MAX_HEADER_CHARS:
        raise SignatureRefused(
            "malformed_signature", f"X-Flowhost-Signature is longer than {_MAX_HEADER_CHARS} bytes"
        )
    timestamp, macs = _parse(header)
    if abs(now - timestamp) > window_s:
        raise SignatureRefused(
            "stale_signature",
            f"the signature's timestamp t={timestamp} is {abs(now - timestamp):.0f} s from the "
            f"gateway's clock, outside the replay window of {window_s} s",
        )
    expected = _mac(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, mac) for mac in macs):
        raise SignatureRefused(
            "bad_signature", "X-Flowhost-Signature does not match the body and the secret"
        )


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse(header: bytes) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.decode("latin-1").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            macs.append(value.lower())
    if timestamp is None or not macs:
        raise SignatureRefused(
            "malformed_signature",
            "X-Flowhost-Signature must read t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
        )
    return timestamp, macs
