"""Pauses in the store, on SQLite and PostgreSQL: durable, and every change bumps the generation."""

from __future__ import annotations

from gateway.listeners.store import PauseStore
from gateway.store import Store


def test_a_pause_is_kept_updated_and_lifted(store: Store) -> None:
    store.ensure_runtime("default")
    pauses = PauseStore(store)
    start = store.generation()
    first = pauses.pause("default", "shop", "maintenance", 30)
    assert store.generation() == start + 1
    assert pauses.all() == {("default", "shop"): first}

    assert pauses.pause("default", "shop", "maintenance", 30) == first
    assert store.generation() == start + 1  # nothing changed: other gateways reload nothing

    again = pauses.pause("default", "shop", "new prices", 120)
    assert (again.reason, again.retry_after_s, again.paused_at) == (
        "new prices",
        120,
        first.paused_at,
    )
    assert store.generation() == start + 2

    assert PauseStore(store).all() == {("default", "shop"): again}  # as a restart reads it
    assert pauses.resume("default", "shop") is True
    assert pauses.resume("default", "shop") is False
    assert pauses.all() == {} and store.generation() == start + 3
