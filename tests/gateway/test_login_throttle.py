"""Failed admin logins: free ones, doubling lockouts, successes, other addresses, memory."""

from __future__ import annotations

import pytest

from gateway.login_throttle import LoginThrottle, TooManyFailedLogins, client_key


def _locked_for(throttle: LoginThrottle, host: str, now: float) -> int | None:
    try:
        throttle.check(host, now)
    except TooManyFailedLogins as error:
        assert error.status == 429
        return int(error.headers["Retry-After"])
    return None


def test_free_failures_then_doubling_lockouts_up_to_the_maximum() -> None:
    throttle = LoginThrottle(free=3, lockout_s=1.0, lockout_max_s=8.0)
    now = 100.0
    for _ in range(3):
        assert _locked_for(throttle, "10.0.0.1", now) is None
        throttle.failed("10.0.0.1", now)
    assert _locked_for(throttle, "10.0.0.1", now) is None  # three were free
    waits = []
    for _ in range(6):
        throttle.failed("10.0.0.1", now)
        waits.append(_locked_for(throttle, "10.0.0.1", now))
        now += waits[-1] or 0
    assert waits == [1, 2, 4, 8, 8, 8]


def test_a_success_clears_the_address_and_others_are_never_slowed() -> None:
    throttle = LoginThrottle(free=1, lockout_s=10.0)
    throttle.failed("10.0.0.1", 0.0)
    throttle.failed("10.0.0.1", 0.0)
    assert _locked_for(throttle, "10.0.0.1", 1.0) == 9
    assert _locked_for(throttle, "10.0.0.2", 1.0) is None
    throttle.succeeded("10.0.0.1")
    assert _locked_for(throttle, "10.0.0.1", 1.0) is None
    throttle.failed("10.0.0.1", 2.0)  # free again
    assert _locked_for(throttle, "10.0.0.1", 2.0) is None


def test_failures_are_forgotten_after_a_quiet_lockout_max() -> None:
    throttle = LoginThrottle(free=1, lockout_s=1.0, lockout_max_s=5.0)
    throttle.failed("h", 0.0)
    throttle.failed("h", 0.0)  # locked until 1.0, forgotten at 6.0
    throttle.failed("h", 6.5)
    assert _locked_for(throttle, "h", 6.5) is None


def test_memory_is_bounded_and_the_least_recently_failed_go_first() -> None:
    throttle = LoginThrottle(free=1, max_addresses=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", float(i))
    assert len(throttle) == 100
    throttle.failed("10.0.3.231", 2000.0)  # the newest stays remembered
    throttle.failed("10.0.3.231", 2000.0)
    assert _locked_for(throttle, "10.0.3.231", 2000.0) is not None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2001:db8::1", "2001:db8::ffff:1", True),  # one /64: one host's block
        ("2001:db8::1", "2001:db8:0:1::1", False),
        ("10.0.0.1", "10.0.0.2", False),
    ],
)
def test_ipv6_clients_count_per_64(a: str, b: str, same: bool) -> None:
    assert (client_key(a) == client_key(b)) is same
