"""Runtime users' access rules: stored in a real SQLite store, loaded into the authenticator,
checked without I/O (certificate login, IP allow-lists with and without trusted proxies,
services)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.auth import AccessDenied, Authenticator, AuthError, RuntimeUser
from gateway.store import CertificateInUse, Store, UnknownUser, UserAccess
from gateway.store.access import AccessStore

CERT = "ab" * 32
OTHER = "cd" * 32


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'flowhost.db'}")


def loaded(store: Store, **options: object) -> Authenticator:
    authenticator = Authenticator(**options)  # type: ignore[arg-type]
    authenticator.load(store.credentials(), AccessStore(store).all())
    return authenticator


def denied(authenticator: Authenticator, user: RuntimeUser, *args: object) -> str:
    with pytest.raises(AccessDenied) as caught:
        authenticator.authorize(user, *args)  # type: ignore[arg-type]
    return caught.value.code


def test_rules_are_kept_changed_field_by_field_and_removed_with_the_user(store: Store) -> None:
    store.add_user("prod", "alice")
    access = AccessStore(store)
    assert access.get("alice") == UserAccess("alice")
    generation = store.generation()
    access.set("alice", client_cert_sha256=CERT, allow_ips=["10.0.0.0/8"])
    assert store.generation() > generation  # other gateways reload
    access.set("alice", services=["shop"])  # the rest is kept
    assert access.get("alice") == UserAccess("alice", CERT, ("10.0.0.0/8",), ("shop",))
    access.set("alice", client_cert_sha256="", allow_ips=[])
    assert access.get("alice") == UserAccess("alice", None, (), ("shop",))
    store.remove_user("alice")
    assert access.all() == []
    with pytest.raises(UnknownUser):
        access.set("alice", services=[])


def test_a_certificate_logs_in_one_user_only(store: Store) -> None:
    store.add_user("prod", "alice")
    store.add_user("prod", "bob")
    access = AccessStore(store)
    access.set("alice", client_cert_sha256=CERT)
    with pytest.raises(CertificateInUse):
        access.set("bob", client_cert_sha256=CERT)
    authenticator = loaded(store)
    assert authenticator.authenticate_certificate(CERT) == RuntimeUser("alice", "prod")
    with pytest.raises(AuthError) as caught:
        authenticator.authenticate_certificate(OTHER)
    assert caught.value.code == "unknown_certificate"


def test_an_existing_database_gains_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowhost.db'}"
    store = Store(url)
    store.add_user("prod", "alice")
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE flowhost_user_access"))  # as made before this feature
    assert AccessStore(Store(url)).get("alice") == UserAccess("alice")


def test_networks_and_services_are_checked_for_restricted_users_only(store: Store) -> None:
    store.add_user("prod", "alice")
    store.add_user("prod", "free")
    AccessStore(store).set("alice", allow_ips=["10.0.0.0/8", "2001:db8::/32"], services=["shop"])
    authenticator = loaded(store)
    alice = authenticator._state.users["alice"][1]
    free = authenticator._state.users["free"][1]
    assert free.access is None
    authenticator.authorize(free, "192.0.2.1", [], "anything")
    authenticator.authorize(alice, "10.1.2.3", [], "shop")
    authenticator.authorize(alice, "::ffff:10.1.2.3", [], "shop")  # a dual-stack socket
    authenticator.authorize(alice, "2001:db8::1", [], "shop")
    assert denied(authenticator, alice, "127.0.0.1", [], "shop") == "address_not_allowed"
    assert denied(authenticator, alice, None, [], "shop") == "address_not_allowed"
    assert denied(authenticator, alice, "10.1.2.3", [], "countries") == "service_not_allowed"
    # Without trusted proxies, X-Forwarded-For is not believed.
    assert denied(authenticator, alice, "127.0.0.1", [b"10.1.2.3"], "shop") == (
        "address_not_allowed"
    )


def test_x_forwarded_for_is_believed_from_trusted_proxies_only(store: Store) -> None:
    store.add_user("prod", "alice")
    AccessStore(store).set("alice", allow_ips=["10.0.0.0/8"])
    authenticator = loaded(store, trusted_proxies=["127.0.0.1/32", "192.168.0.0/16"])
    alice = authenticator._state.users["alice"][1]
    authenticator.authorize(alice, "127.0.0.1", [b"10.1.2.3"], "shop")
    # The client is the last hop that is not a trusted proxy, whatever came before it.
    authenticator.authorize(alice, "127.0.0.1", [b"203.0.113.9, 10.1.2.3, 192.168.1.1"], "s")
    assert denied(authenticator, alice, "127.0.0.1", [b"10.1.2.3, 203.0.113.9"], "s") == (
        "address_not_allowed"
    )
    assert denied(authenticator, alice, "127.0.0.1", [b"not-an-address"], "s") == (
        "address_not_allowed"
    )
    # From a peer that is no proxy, the header is ignored.
    assert denied(authenticator, alice, "203.0.113.9", [b"10.1.2.3"], "s") == (
        "address_not_allowed"
    )
