"""Runtime policies in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from gateway.policy import ExecutionLimits, RuntimePolicy
from gateway.store import InvalidName, Store
from gateway.store.policies import PolicyStore


def test_set_read_and_reset_bump_the_generation_only_on_change(store: Store) -> None:
    policies = PolicyStore(store)
    assert policies.all() == {}
    limits = ExecutionLimits(split_fanout=5)
    policy = RuntimePolicy(egress_allow=("api.example.com",), limits=limits)
    before = store.generation()
    policies.set("prod", policy)
    assert policies.all() == {"prod": policy}
    assert "prod" in store.runtimes()
    changed = store.generation()
    assert changed > before
    policies.set("prod", policy)  # the same content: nothing changes
    assert store.generation() == changed
    policies.set("prod", RuntimePolicy(allow_private=True))
    assert policies.all()["prod"].allow_private
    policies.reset("prod")
    assert policies.all() == {}
    assert store.generation() > changed
    with pytest.raises(InvalidName):
        policies.set("no/slashes", policy)


def test_an_existing_database_gets_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with Store(url) as store:
        store.engine.dispose()
    with Store(url) as store:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE flowhost_runtime_policies")
        PolicyStore(store).set("default", RuntimePolicy(allow_loopback=True))
        assert "flowhost_runtime_policies" in inspect(store.engine).get_table_names()
