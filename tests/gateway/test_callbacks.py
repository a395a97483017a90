"""Callback policy, Flow's answers and the backoff schedule."""

from __future__ import annotations

import pytest

from gateway.callbacks import CallbackPolicy, backoff_s, interpret
from gateway.errors import BadRequest, Forbidden


def test_backoff_doubles_is_capped_and_jittered() -> None:
    assert [backoff_s(a, 1.0, 10.0, rand=lambda: 1.0) for a in range(1, 7)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
    ]
    assert backoff_s(3, 1.0, 10.0, rand=lambda: 0.0) == 2.0  # equal jitter: at least half


@pytest.mark.parametrize(
    ("status", "body", "delivered", "retry"),
    [
        (200, b'"SUCCESS"', True, False),
        (200, b'"WAIT"', True, False),
        (200, b'"BUSY"', False, True),
        (503, b"down", False, True),
        (429, b"", False, True),
        (404, b"no such state", False, False),
    ],
)
def test_flow_answers(status: int, body: bytes, delivered: bool, retry: bool) -> None:
    answer = interpret(status, body)
    assert (answer.delivered, answer.retry) == (delivered, retry)


def test_callback_uris() -> None:
    policy = CallbackPolicy({"prod": ["flow.manywho.com"]})
    policy.check("prod", "https://flow.manywho.com/api/run/1/response")
    policy.check("dev", "http://anything.example/cb")  # runtimes not listed: any host
    with pytest.raises(BadRequest, match="not an http"):
        policy.check("dev", "ftp://x/y")
    with pytest.raises(BadRequest, match="not an http"):
        policy.check("dev", "not a url")
    with pytest.raises(Forbidden, match="not allowed for runtime 'prod'"):
        policy.check("prod", "https://evil.example/cb")
