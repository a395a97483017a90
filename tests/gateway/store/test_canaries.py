"""Canaries and labels in the store, on SQLite and PostgreSQL: one transaction per deploy, one
canary per package and runtime, promote/abort, and removal with the runtime."""

from __future__ import annotations

import pytest

from gateway.store import (
    CanaryExists,
    InvalidLabel,
    NoCanary,
    NothingToCanary,
    Store,
    UnknownRuntime,
)
from gateway.store.labels import LabelStore
from tests.gateway.store.test_store import spec


def source(version: str) -> str:
    return f"name: orders\nversion: {version}\n"


def test_a_canary_runs_beside_the_active_version_until_promoted(store: Store) -> None:
    assert store.deploy("eu", spec(version="1"), source("1"))
    assert store.deploy("eu", spec(version="2"), source("2"), canary=10)
    assert [(c.spec.version, c.percent) for c in store.canaries("eu")] == [("2", 10)]
    assert [a.spec.version for a in store.active("eu")] == ["1"]
    assert [(v.version, v.active, v.canary_percent) for v in store.versions("eu")] == [
        ("1", True, None),
        ("2", False, 10),
    ]
    generation = store.generation()
    assert not store.deploy("eu", spec(version="2"), source("2"), canary=10)  # nothing changes
    assert store.generation() == generation
    store.deploy("eu", spec(version="2"), source("2"), canary=30)
    assert [c.percent for c in store.canaries("eu")] == [30]

    with pytest.raises(CanaryExists, match="orders 2 is the canary"):
        store.deploy("eu", spec(version="3"), source("3"))
    assert [v.version for v in store.versions("eu")] == ["1", "2"]  # all or nothing
    with pytest.raises(CanaryExists):
        store.deploy("eu", spec(version="3"), source("3"), canary=5)

    assert store.promote("eu", "orders") == "2"
    assert store.canaries() == [] and [a.spec.version for a in store.active("eu")] == ["2"]
    assert store.rollback("eu", "orders") == "1"  # the version the canary replaced
    with pytest.raises(NoCanary):
        store.abort("eu", "orders")


def test_a_canary_needs_an_active_version_of_the_same_path(store: Store) -> None:
    with pytest.raises(NothingToCanary, match="not deployed"):
        store.deploy("eu", spec(version="1"), source("1"), canary=10)
    assert store.versions("eu") == []  # the refused deploy stored nothing
    store.deploy("eu", spec(version="1"), source("1"))
    with pytest.raises(NothingToCanary, match="active version"):
        store.deploy("eu", spec(version="1"), source("1"), canary=10)
    with pytest.raises(NothingToCanary, match="shares its service's path"):
        store.deploy("eu", spec(version="2", path="elsewhere"), source("2"), canary=10)
    store.deploy("eu", spec(version="3"), source("3"), canary=10)
    assert store.abort("eu", "orders") == "3"
    store.deploy("eu", spec(version="3"), source("3"), canary=10)
    store.deactivate("eu", "orders")  # undeploying drops the canary with it
    assert store.canaries() == []


def test_labels_are_changed_bounded_and_removed_with_their_runtime(store: Store) -> None:
    labels = LabelStore(store, max_labels=2)
    with pytest.raises(UnknownRuntime):
        labels.change("eu", {"tier": "prod"})
    assert labels.change("eu", {"tier": "prod"}, create=True) == {"tier": "prod"}
    assert labels.change("eu", {"customer": "acme"}, ["tier"]) == {"customer": "acme"}
    with pytest.raises(InvalidLabel, match="the limit is 2"):
        labels.change("eu", {"a": "1", "b": "2"})
    assert labels.all() == {"eu": {"customer": "acme"}}
    store.deploy("eu", spec(version="1"), source("1"))
    store.deploy("eu", spec(version="2"), source("2"), canary=10)
    store.remove_runtime("eu", force=True)
    assert labels.all() == {} and store.canaries() == []
