"""The in-memory listeners: what a request counts, and rates over the sampled window."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.errors import ExecutionFailed, NotFound
from gateway.listeners.state import WINDOW_S, Listeners
from gateway.listeners.store import Pause


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rates_are_over_the_last_minute_of_samples() -> None:
    clock = Clock()
    listeners = Listeners(clock)
    shop = listeners.of("default", "shop")
    for second in range(120):  # 10 requests a second for two minutes, one error in ten
        clock.now += 1
        shop.requests += 10
        shop.failed(NotFound("no such action"))
        if second % 5 == 4:
            await listeners._sample()
    traffic = listeners.traffic("default", "shop")
    assert (traffic.requests, traffic.errors, traffic.server_errors) == (1200, 120, 0)
    assert traffic.window_s == WINDOW_S
    assert traffic.requests_per_s == 10.0 and traffic.errors_per_s == 1.0

    for _ in range(60):  # then a quiet minute: the rate falls to nothing
        clock.now += 5
        await listeners._sample()
    assert listeners.traffic("default", "shop").requests_per_s == 0.0


def test_a_fresh_listener_reports_over_the_time_it_has_existed() -> None:
    clock = Clock()
    listeners = Listeners(clock)
    listener = listeners.of("default", "shop")
    clock.now += 4
    listener.requests += 8
    listener.failed(ExecutionFailed("step failed"))
    traffic = listeners.traffic("default", "shop")
    assert traffic.window_s == 4.0 and traffic.requests_per_s == 2.0
    assert traffic.server_errors == 1


def test_pauses_reach_listeners_made_before_and_after_they_load() -> None:
    listeners = Listeners(Clock())
    before = listeners.of("default", "shop")
    pause = Pause("maintenance", 60, datetime.now(UTC))
    listeners.load_pauses({("default", "shop"): pause, ("default", "countries"): pause})
    assert before.pause == pause
    assert listeners.of("default", "countries").pause == pause
    assert listeners.of("other", "shop").pause is None  # a pause is per runtime

    refusal = before.refuse()
    assert (refusal.status, refusal.code) == (503, "listener_paused")
    assert refusal.headers == {"Retry-After": "60"} and "maintenance" in refusal.message
    before.failed(refusal)  # a refusal is not an error of the service
    assert (before.refused, before.errors) == (1, 0)

    listeners.load_pauses({})
    assert before.pause is None and listeners.paused() == []
