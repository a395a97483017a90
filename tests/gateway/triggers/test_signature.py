"""Webhook signatures: what is accepted and the precise reason for what is not."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway.triggers.signature import SignatureRefused, sign, verify

BODY = b'{"id": 1}'
NOW = 1_800_000_000


def refused(header: bytes | None, body: bytes = BODY, secret: str = "k", now: float = NOW) -> str:
    with pytest.raises(SignatureRefused) as caught:
        verify(header, body, secret, now, 300)
    return caught.value.code


def test_a_signature_is_the_documented_hmac_of_timestamp_dot_body() -> None:
    mac = hmac.new(b"k", b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("k", BODY, NOW) == f"t={NOW},v1={mac}"
    verify(f"t={NOW},v1={mac}".encode(), BODY, "k", NOW, 300)


def test_within_the_window_either_side_and_with_a_rotated_secret() -> None:
    verify(sign("k", BODY, NOW - 300).encode(), BODY, "k", NOW, 300)
    verify(sign("k", BODY, NOW + 300).encode(), BODY, "k", NOW, 300)
    old = sign("old", BODY, NOW).split("v1=")[1]
    both = f"{sign('k', BODY, NOW)},v1={old}".encode()
    verify(both, BODY, "old", NOW, 300)
    verify(both, BODY, "k", NOW, 300)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature"),
        (b"", "malformed_signature"),
        (b"v1=abcd", "malformed_signature"),
        (b"t=now,v1=abcd", "malformed_signature"),
        (f"t={NOW}".encode(), "malformed_signature"),
        (b"t=1," + b"v1=a" * 400, "malformed_signature"),
        (f"t={NOW},v1=00".encode(), "bad_signature"),
        (sign("other", BODY, NOW).encode(), "bad_signature"),
        (sign("k", BODY, NOW - 301).encode(), "stale_signature"),
        (sign("k", BODY, NOW + 301).encode(), "stale_signature"),
        (sign("k", BODY + b" ", NOW).encode(), "bad_signature"),
    ],
)
def test_refusals(header: bytes | None, code: str) -> None:
    assert refused(header) == code


def test_a_replayed_signature_is_refused_once_the_window_passed() -> None:
    header = sign("k", BODY, NOW).encode()
    verify(header, BODY, "k", NOW + 10, 300)
    assert refused(header, now=NOW + 301) == "stale_signature"
