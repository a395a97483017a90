"""Console sessions in a real SQLite store: expiry, idling, sign-out, a changed admin password."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from gateway.console import csrf
from gateway.console.sessions import SessionStore, sessions

USER, PASSWORD = "admin", "s3cret-admin"


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    engine = create_engine(f"sqlite:///{tmp_path / 'console.db'}")
    return SessionStore(engine, lifetime_s=100.0, idle_s=30.0)


def test_a_session_is_found_by_its_cookie_value_only(store: SessionStore) -> None:
    token, opened = store.open(USER, PASSWORD, now=1000.0)
    found = store.find(token, USER, PASSWORD, now=1001.0)
    assert found is not None
    assert (found.user, found.csrf) == (USER, opened.csrf)
    assert store.find(token + "x", USER, PASSWORD, now=1001.0) is None
    assert store.find("", USER, PASSWORD, now=1001.0) is None


def test_the_store_keeps_no_cookie_value(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    with store._engine.connect() as conn:
        row = conn.execute(select(sessions)).one()
    assert token not in [str(value) for value in row]
    assert PASSWORD not in [str(value) for value in row]


def test_a_session_ends_at_its_lifetime_even_when_busy(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    for moment in (1025.0, 1050.0, 1075.0, 1099.0):  # used well within the idle limit
        assert store.find(token, USER, PASSWORD, now=moment) is not None
    assert store.find(token, USER, PASSWORD, now=1100.0) is None
    assert store.count() == 0  # an expired session is deleted, not kept


def test_an_idle_session_ends(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    assert store.find(token, USER, PASSWORD, now=1031.0) is None


def test_a_live_refresh_does_not_keep_a_session_alive(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    for moment in range(1002, 1030, 2):  # a page polling every 2 s
        assert store.find(token, USER, PASSWORD, now=float(moment), touch=False) is not None
    assert store.find(token, USER, PASSWORD, now=1031.0) is None


def test_signing_out_ends_the_session(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    other, _ = store.open(USER, PASSWORD, now=1000.0)
    store.close(token)
    assert store.find(token, USER, PASSWORD, now=1001.0) is None
    assert store.find(other, USER, PASSWORD, now=1001.0) is not None  # only that one


def test_a_changed_admin_password_ends_every_session(store: SessionStore) -> None:
    token, _ = store.open(USER, PASSWORD, now=1000.0)
    assert store.find(token, USER, "the-new-password", now=1001.0) is None
    assert store.find(token, USER, PASSWORD, now=1001.0) is None  # deleted, not just refused


def test_a_notice_is_kept_until_cleared(store: SessionStore) -> None:
    token, session = store.open(USER, PASSWORD, now=1000.0)
    store.notify(session, "error", "nothing to roll back to")
    found = store.find(token, USER, PASSWORD, now=1001.0)
    assert found is not None and found.notice == ("error", "nothing to roll back to")
    store.clear_notice(found)
    again = store.find(token, USER, PASSWORD, now=1002.0)
    assert again is not None and again.notice is None


def test_csrf_tokens_are_compared_exactly() -> None:
    token = csrf.new_token()
    csrf.check(token, token)
    for wrong in (token[:-1], token + "a", "", None, 42):
        with pytest.raises(csrf.CsrfRefused) as refused:
            csrf.check(token, wrong)
        assert refused.value.status == 403
    with pytest.raises(csrf.CsrfRefused):
        csrf.check("", "")  # no expected token (no sign-in cookie) accepts nothing


def test_a_cross_site_post_is_refused() -> None:
    csrf.check_fetch_site(None)  # not a browser, or an old one
    csrf.check_fetch_site("same-origin")
    with pytest.raises(csrf.CsrfRefused):
        csrf.check_fetch_site("cross-site")
