"""Runtimes created and removed explicitly, against real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gateway.configuration.store import ConfigStore
from gateway.policy import RuntimePolicy
from gateway.store import InvalidName, RuntimeInUse, Store, UnknownRuntime
from gateway.store.access import AccessStore
from gateway.store.policies import PolicyStore
from tests.gateway.store.test_store import active_versions, deploy


def test_add_runtime_creates_once(store: Store) -> None:
    assert store.add_runtime("prod") is True
    assert store.add_runtime("prod") is False
    assert store.has_runtime("prod") and not store.has_runtime("nosuch")
    (record,) = store.runtime_records()
    assert (record.name, record.users, record.active_deployments) == ("prod", 0, 0)
    with pytest.raises(InvalidName):
        store.add_runtime("no/slash")


def test_remove_refuses_a_runtime_in_use_and_names_what_holds_it(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    store.add_user("prod", "alice")
    with pytest.raises(RuntimeInUse) as refused:
        store.remove_runtime("prod")
    assert "active packages orders" in refused.value.message
    assert "users alice" in refused.value.message
    assert "--force" in refused.value.message
    assert store.runtimes() == ["prod"]
    assert [u.name for u in store.users("prod")] == ["alice"]
    with pytest.raises(UnknownRuntime):
        store.remove_runtime("nosuch")


def test_undeployed_runtime_is_removed_with_its_versions(store: Store) -> None:
    deploy(store, "dev", "orders", "1.0.0")
    store.deactivate("dev", "orders")
    store.remove_runtime("dev")
    assert store.runtimes() == []
    assert store.versions("dev") == []


def test_force_removes_users_access_deployments_config_and_policy(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    deploy(store, "keep", "orders", "1.0.0")
    store.add_user("prod", "alice")
    store.add_user("keep", "bob")
    access = AccessStore(store)
    access.set("alice", allow_ips=["10.0.0.0/8"])
    config = ConfigStore(store, None, 1024)
    config.set("prod", "", "region", "eu", secret=False)
    policies = PolicyStore(store)
    policies.set("prod", RuntimePolicy(allow_loopback=True))
    generation = store.generation()

    store.remove_runtime("prod", force=True)

    assert store.runtimes() == ["keep"]
    assert [u.name for u in store.users()] == ["bob"]
    assert active_versions(store, "prod") == {} and store.versions("prod") == []
    assert active_versions(store, "keep") == {"orders": "1.0.0"}
    assert config.entries("prod") == []
    assert "prod" not in policies.all()
    assert [a.name for a in access.all()] == []
    assert store.generation() > generation
    store.add_user("prod2", "alice")  # the name is free again
