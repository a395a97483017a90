"""The store against real SQLite and PostgreSQL databases (see `store_url` in conftest)."""

from __future__ import annotations

import gc
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from gateway.auth import hash_token
from gateway.spec import ActionSpec, ConfigSpec, ServiceSpec
from gateway.store import (
    InvalidName,
    NothingToRollBack,
    PathConflict,
    Store,
    StoreError,
    UnknownPackage,
    UnknownUser,
    UnknownVersion,
    UserExists,
    VersionConflict,
)


def spec(name: str = "orders", version: str = "1.0.0", path: str | None = None) -> ServiceSpec:
    return ServiceSpec(name=name, version=version, service_path=path or name)


def deploy(store: Store, runtime: str, name: str, version: str, path: str | None = None) -> None:
    store.add_version(runtime, spec(name, version, path), f"name: {name}\nversion: {version}\n")
    store.activate(runtime, name, version)


def active_versions(store: Store, runtime: str) -> dict[str, str]:
    return {d.spec.name: d.spec.version for d in store.active(runtime)}


# --- runtimes and users -------------------------------------------------------------------------


def test_ensure_runtime_is_idempotent(store: Store) -> None:
    store.ensure_runtime("prod")
    generation = store.generation()
    store.ensure_runtime("prod")
    store.ensure_runtime("dev")
    assert store.runtimes() == ["dev", "prod"]
    assert store.generation() == generation + 1  # only "dev" changed anything


def test_add_user_returns_the_token_once_and_stores_only_its_hash(
    store: Store, store_url: str
) -> None:
    token = store.add_user("prod", "alice")

    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert store.runtimes() == ["prod"]
    [user] = store.users()
    assert (user.name, user.runtime) == ("alice", "prod")
    assert not hasattr(user, "token_hash")
    assert store.credentials()[0].token_hash == hash_token(token)

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM flowhost_users")).mappings().all()
    finally:
        engine.dispose()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hash_token(token)
    assert all(token not in str(value) for value in rows[0].values())


def test_user_names_are_unique_across_runtimes(store: Store) -> None:
    store.add_user("prod", "alice")
    with pytest.raises(UserExists) as caught:
        store.add_user("dev", "alice")
    assert caught.value.code == "user_exists"
    assert "alice" in caught.value.message
    assert isinstance(caught.value, StoreError)
    assert [u.runtime for u in store.users()] == ["prod"]
    assert store.runtimes() == ["prod"]  # the failed add created nothing


def test_users_by_runtime_and_timestamps(store: Store) -> None:
    before = datetime.now(UTC)
    store.add_user("prod", "bob")
    store.add_user("prod", "alice")
    store.add_user("dev", "carol")
    assert [u.name for u in store.users("prod")] == ["alice", "bob"]
    assert [u.name for u in store.users("dev")] == ["carol"]
    assert store.users("nowhere") == []
    for user in store.users():
        assert user.created_at.tzinfo is not None
        assert before - timedelta(seconds=5) <= user.created_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("runtime", "user"),
    [("prod", "al:ice"), ("prod", ""), ("prod", "alice smith"), ("pr od", "alice"), ("", "a")],
)
def test_names_must_be_plain(store: Store, runtime: str, user: str) -> None:
    with pytest.raises(InvalidName) as caught:
        store.add_user(runtime, user)
    assert caught.value.code == "invalid_name"
    assert store.users() == []
    assert store.runtimes() == []


def test_plain_names_include_emails(store: Store) -> None:
    store.add_user("acme-prod.eu_1", "flow.builder@example.com")
    assert [u.name for u in store.users("acme-prod.eu_1")] == ["flow.builder@example.com"]


def test_rotate_token_replaces_the_hash(store: Store) -> None:
    old = store.add_user("prod", "alice")
    new = store.rotate_token("alice")
    assert new != old
    assert [c.token_hash for c in store.credentials()] == [hash_token(new)]
    with pytest.raises(UnknownUser) as caught:
        store.rotate_token("nobody")
    assert caught.value.code == "unknown_user"


def test_remove_user(store: Store) -> None:
    store.add_user("prod", "alice")
    store.add_user("prod", "bob")
    store.remove_user("alice")
    assert [c.name for c in store.credentials()] == ["bob"]
    with pytest.raises(UnknownUser):
        store.remove_user("alice")
    store.add_user("dev", "alice")  # the name is free again, in any runtime
    assert {u.name: u.runtime for u in store.users()} == {"alice": "dev", "bob": "prod"}


# --- versions -----------------------------------------------------------------------------------


def test_versions_are_immutable(store: Store) -> None:
    assert store.add_version("prod", spec(), "source: 1") is True
    assert store.add_version("prod", spec(), "source: 1") is False  # same content: no-op
    with pytest.raises(VersionConflict) as caught:
        store.add_version("prod", spec(), "source: changed")
    assert caught.value.code == "version_conflict"
    assert caught.value.message == (
        "orders 1.0.0 is already deployed with different content; "
        "versions are immutable, bump the version"
    )
    [record] = store.versions("prod")
    assert (record.name, record.version, record.active) == ("orders", "1.0.0", False)
    assert len(record.digest) == 64
    # Versions belong to a runtime: the same version may hold other content elsewhere.
    assert store.add_version("dev", spec(), "source: changed") is True


def test_spec_and_source_round_trip(store: Store) -> None:
    full = ServiceSpec(
        name="orders",
        version="1.2.3",
        service_path="orders",
        summary="Orders",
        configuration=(ConfigSpec("apiBase", required=True),),
        profiles={"Q": {"type": "object", "properties": {"id": {"type": "string"}}}},
        actions=(ActionSpec("getOrder", "get-order", request="Q", outcomes=("ok", "missing")),),
        processes=("get-order",),
    )
    source = "name: orders\nversion: 1.2.3\n# ünïcode\n"
    store.add_version("prod", full, source)
    store.activate("prod", "orders", "1.2.3")
    [deployment] = store.active("prod")
    assert deployment.runtime == "prod"
    assert deployment.spec == full
    assert deployment.source == source


def test_activate_and_list(store: Store) -> None:
    store.add_version("prod", spec("orders", "1.0.0"), "a")
    store.add_version("prod", spec("orders", "1.1.0"), "b")
    store.add_version("prod", spec("billing", "0.1.0"), "c")
    store.activate("prod", "orders", "1.1.0")

    assert [(v.name, v.version, v.active) for v in store.versions("prod")] == [
        ("billing", "0.1.0", False),
        ("orders", "1.0.0", False),
        ("orders", "1.1.0", True),
    ]
    assert [v.version for v in store.versions("prod", "orders")] == ["1.0.0", "1.1.0"]
    assert active_versions(store, "prod") == {"orders": "1.1.0"}
    assert store.active("dev") == []

    with pytest.raises(UnknownVersion) as caught:
        store.activate("prod", "orders", "9.9.9")
    assert caught.value.code == "unknown_version"
    with pytest.raises(UnknownVersion):
        store.activate("dev", "orders", "1.0.0")  # stored in prod only


def test_active_across_runtimes(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    deploy(store, "dev", "orders", "2.0.0")
    deploy(store, "dev", "billing", "1.0.0")
    assert [(d.runtime, d.spec.key) for d in store.active()] == [
        ("dev", "billing@1.0.0"),
        ("dev", "orders@2.0.0"),
        ("prod", "orders@1.0.0"),
    ]


def test_rollback_to_the_previous_version_and_back(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    with pytest.raises(NothingToRollBack) as caught:
        store.rollback("prod", "orders")
    assert caught.value.code == "nothing_to_roll_back"

    deploy(store, "prod", "orders", "2.0.0")
    deploy(store, "prod", "orders", "3.0.0")
    assert store.rollback("prod", "orders") == "2.0.0"
    assert active_versions(store, "prod") == {"orders": "2.0.0"}
    assert store.rollback("prod", "orders") == "3.0.0"  # a second rollback undoes the first
    assert store.rollback("prod", "orders", "1.0.0") == "1.0.0"
    assert active_versions(store, "prod") == {"orders": "1.0.0"}
    assert store.rollback("prod", "orders") == "3.0.0"

    with pytest.raises(UnknownVersion):
        store.rollback("prod", "orders", "0.0.1")
    with pytest.raises(NothingToRollBack):
        store.rollback("prod", "never-deployed")


def test_deactivate_then_rollback_restores(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    store.deactivate("prod", "orders")
    assert store.active("prod") == []
    assert [v.active for v in store.versions("prod")] == [False]  # versions are kept

    with pytest.raises(UnknownPackage) as caught:
        store.deactivate("prod", "orders")
    assert caught.value.code == "unknown_package"
    with pytest.raises(UnknownPackage):
        store.deactivate("prod", "billing")

    assert store.rollback("prod", "orders") == "1.0.0"
    assert active_versions(store, "prod") == {"orders": "1.0.0"}


def test_activate_after_undeploy_remembers_the_version_before(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0")
    store.deactivate("prod", "orders")
    deploy(store, "prod", "orders", "2.0.0")
    assert store.rollback("prod", "orders") == "1.0.0"


def test_service_paths_are_unique_within_a_runtime(store: Store) -> None:
    deploy(store, "prod", "orders", "1.0.0", path="orders")
    store.add_version("prod", spec("orders-v2", "1.0.0", path="/orders/"), "x")
    with pytest.raises(PathConflict) as caught:
        store.activate("prod", "orders-v2", "1.0.0")
    assert caught.value.code == "path_conflict"
    assert "orders 1.0.0" in caught.value.message
    assert caught.value.details == {
        "runtime": "prod",
        "path": "orders",
        "name": "orders",
        "version": "1.0.0",
    }
    assert active_versions(store, "prod") == {"orders": "1.0.0"}

    # Another runtime may serve the same path; a new version of the same package may keep it.
    deploy(store, "dev", "orders-v2", "1.0.0", path="orders")
    deploy(store, "prod", "orders", "1.1.0", path="orders")

    # Once the path is freed, the other package can take it.
    store.deactivate("prod", "orders")
    store.activate("prod", "orders-v2", "1.0.0")
    with pytest.raises(PathConflict):
        store.rollback("prod", "orders")


def test_generation_moves_with_every_change(store: Store) -> None:
    seen = [store.generation()]

    def changed() -> None:
        now = store.generation()
        assert now > seen[-1]
        seen.append(now)

    def unchanged() -> None:
        assert store.generation() == seen[-1]

    store.add_user("prod", "alice")
    changed()
    store.rotate_token("alice")
    changed()
    store.remove_user("alice")
    changed()
    store.add_version("prod", spec(), "a")
    changed()
    store.add_version("prod", spec(), "a")
    unchanged()
    store.activate("prod", "orders", "1.0.0")
    changed()
    store.activate("prod", "orders", "1.0.0")
    unchanged()
    store.deactivate("prod", "orders")
    changed()
    store.rollback("prod", "orders")
    changed()
    store.add_user("prod", "bob")
    changed()
    with pytest.raises(UserExists):
        store.add_user("prod", "bob")
    unchanged()
    with pytest.raises(VersionConflict):
        store.add_version("prod", spec(), "b")
    unchanged()


def test_reopening_keeps_the_state(store_url: str) -> None:
    with Store(store_url) as first:
        token = first.add_user("prod", "alice")
        deploy(first, "prod", "orders", "1.0.0")
        generation = first.generation()
    with Store(store_url) as second:  # create_all on existing tables is a no-op
        assert second.credentials()[0].token_hash == hash_token(token)
        assert active_versions(second, "prod") == {"orders": "1.0.0"}
        assert second.generation() == generation


def test_sqlite_creates_the_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "flowhost.db"
    with Store(f"sqlite:///{path}") as store:
        store.ensure_runtime("dev")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_a_connection_returned_after_close_is_closed(store_url: str) -> None:
    """A part stopped by cancelling its task leaves its `asyncio.to_thread` call running; the
    connection that thread hands back after the store closed is closed, not left open in a
    pool nobody holds (PostgreSQL warned "deleted while still open" at garbage collection)."""
    store = Store(store_url)
    in_flight = store.engine.connect()  # the thread still at work when the gateway stops
    in_flight.execute(text("SELECT 1"))
    dbapi_connection = in_flight.connection.dbapi_connection
    assert dbapi_connection is not None
    store.close()
    in_flight.close()  # the thread finishes
    with pytest.raises(store.engine.dialect.loaded_dbapi.Error):
        dbapi_connection.cursor().execute("SELECT 1")


def test_a_store_that_fails_to_open_closes_its_connection(postgres_url: str) -> None:
    """Schema creation failing after connecting (here: no schema to create the tables in)
    leaves no open connection behind to be garbage-collected."""
    url = make_url(postgres_url)
    options = " ".join(filter(None, [url.query.get("options"), "-csearch_path=flowhost_absent"]))
    absent = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ProgrammingError, match="no schema has been selected"):
            Store(absent)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# --- several stores on one database: gateways sharing PostgreSQL, or one SQLite file ---


def test_two_stores_see_each_others_writes(store_url: str) -> None:
    with Store(store_url) as one, Store(store_url) as two:
        start = two.generation()
        token = one.add_user("prod", "alice")
        deploy(one, "prod", "orders", "1.0.0")

        assert two.generation() > start
        assert [c.token_hash for c in two.credentials()] == [hash_token(token)]
        assert active_versions(two, "prod") == {"orders": "1.0.0"}

        two.remove_user("alice")
        assert one.credentials() == []
        one.add_user("dev", "bob")
        with pytest.raises(UserExists):
            two.add_user("prod", "bob")


def test_concurrent_activations_cannot_both_take_a_path(store_url: str) -> None:
    """Two gateways racing to activate different packages on one path: exactly one wins."""
    rounds = 10
    with Store(store_url) as one, Store(store_url) as two:
        for i in range(rounds):
            for name in ("a", "b"):
                one.add_version("prod", spec(f"{name}{i}", "1.0.0", path=f"p{i}"), name)
        outcomes: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(2)

        def race(store: Store, name: str) -> None:
            for i in range(rounds):
                barrier.wait()
                try:
                    store.activate("prod", f"{name}{i}", "1.0.0")
                    result = "ok"
                except PathConflict:
                    result = "conflict"
                with lock:
                    outcomes.append(result)

        threads = [
            threading.Thread(target=race, args=(one, "a")),
            threading.Thread(target=race, args=(two, "b")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(outcomes) == ["conflict"] * rounds + ["ok"] * rounds
        paths = [d.spec.service_path for d in one.active("prod")]
        assert sorted(paths) == sorted(f"p{i}" for i in range(rounds))


# --- the write transaction other modules share ------------------------------------------------


def test_a_write_moves_the_generation_once_at_commit_and_only_when_something_changed(
    store: Store,
) -> None:
    before = store.generation()
    with store.write() as write:
        write.ensure_runtime("prod")
        write.ensure_runtime("dev")
        assert write.user_runtime("nobody") is None
    assert store.runtimes() == ["dev", "prod"]
    assert store.generation() == before + 1  # two changes, one transaction
    with store.write() as write:
        write.ensure_runtime("prod")  # already there: nothing changed
    assert store.generation() == before + 1


def test_a_write_left_by_an_exception_changes_nothing(store: Store) -> None:
    before = store.generation()
    with pytest.raises(RuntimeError), store.write() as write:
        write.ensure_runtime("prod")
        raise RuntimeError("the caller's check failed")
    assert store.runtimes() == []
    assert store.generation() == before


def test_a_write_refuses_an_invalid_runtime_name(store: Store) -> None:
    with pytest.raises(InvalidName), store.write() as write:
        write.ensure_runtime("no spaces")
    assert store.runtimes() == []
