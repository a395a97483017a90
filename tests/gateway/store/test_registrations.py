"""Executor registrations in the store (SQLite and PostgreSQL): renewal, replay, leave, expiry.
The store's clock is moved by the test, not slept on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import InvalidName, Store, UnknownRuntime
from gateway.store.registrations import RegistrationStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registrations(store: Store, clock: Clock) -> RegistrationStore:
    store.add_runtime("default")
    return RegistrationStore(store, keep_s=60, clock=clock)


def _live(registrations: RegistrationStore) -> dict[str, str]:
    return {r.address: r.runtime for r in registrations.live()}


def test_a_registration_is_live_until_it_expires_and_renewals_extend_it(
    registrations: RegistrationStore, clock: Clock
) -> None:
    assert registrations.register("10.0.0.1:50051", "default", "a", 1, ttl_s=15)
    assert _live(registrations) == {"10.0.0.1:50051": "default"}
    clock.move(10)
    assert registrations.register("10.0.0.1:50051", "default", "a", 2, ttl_s=15)
    clock.move(10)  # past the first expiry, not the renewed one
    assert _live(registrations) == {"10.0.0.1:50051": "default"}
    clock.move(6)
    assert _live(registrations) == {}


def test_an_old_or_repeated_timestamp_is_a_replay_and_changes_nothing(
    registrations: RegistrationStore, clock: Clock
) -> None:
    assert registrations.register("10.0.0.1:1", "default", "a", 10, ttl_s=60)
    assert not registrations.register("10.0.0.1:1", "default", "a", 10, ttl_s=60)
    assert not registrations.register("10.0.0.1:1", "default", "a", 9, ttl_s=60)
    assert registrations.leave("10.0.0.1:1", 11)
    clock.move(0.001)
    assert _live(registrations) == {}
    assert not registrations.leave("10.0.0.1:1", 11)
    assert not registrations.register("10.0.0.1:1", "default", "a", 10, ttl_s=60)  # replayed
    assert _live(registrations) == {}
    assert registrations.register("10.0.0.1:1", "default", "a", 12, ttl_s=60)  # it came back
    assert _live(registrations) == {"10.0.0.1:1": "default"}


def test_leaving_an_address_never_registered_writes_nothing(
    registrations: RegistrationStore,
) -> None:
    assert registrations.leave("10.0.0.9:1", 5)
    assert registrations.register("10.0.0.9:1", "default", "a", 1, ttl_s=60)  # no row kept


def test_only_a_runtime_that_exists_is_joined(registrations: RegistrationStore) -> None:
    with pytest.raises(UnknownRuntime, match="flowhost runtimes add eu"):
        registrations.register("10.0.0.1:1", "eu", "a", 1, ttl_s=60)
    with pytest.raises(InvalidName):
        registrations.register("10.0.0.1:1", "no such", "a", 1, ttl_s=60)
    assert _live(registrations) == {}


def test_rows_are_kept_past_their_expiry_then_purged(
    registrations: RegistrationStore, clock: Clock
) -> None:
    assert registrations.register("10.0.0.1:1", "default", "a", 100, ttl_s=15)
    clock.move(15 + 30)  # expired, still kept (keep_s 60): an old message is still a replay
    assert registrations.register("10.0.0.2:1", "default", "b", 1, ttl_s=15)
    assert not registrations.register("10.0.0.1:1", "default", "a", 50, ttl_s=15)
    clock.move(31)  # past expiry + keep_s: the next write purges it
    assert registrations.register("10.0.0.2:1", "default", "b", 2, ttl_s=15)
    assert registrations.register("10.0.0.1:1", "default", "a", 50, ttl_s=15)
