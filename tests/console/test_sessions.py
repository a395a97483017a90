"""Console sessions in real SQLite and PostgreSQL stores: expiry, idling, sign-out, a changed
admin password."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select

from gateway.console import csrf
from gateway.console.sessions import SessionStore
from gateway.console.sessions import sessions as table

USER, PASSWORD = "admin", "s3cret-admin"


@pytest.fixture
def sessions(store_url: str) -> Iterator[SessionStore]:
    """On SQLite and on PostgreSQL (`store_url`): several gateways share sessions there."""
    engine = create_engine(store_url)
    yield SessionStore(engine, lifetime_s=100.0, idle_s=30.0)
    engine.dispose()


def test_a_session_is_found_by_its_cookie_value_only(sessions: SessionStore) -> None:
    token, opened = sessions.open(USER, PASSWORD, now=1000.0)
    found = sessions.find(token, USER, PASSWORD, now=1001.0)
    assert found is not None
    assert (found.user, found.csrf) == (USER, opened.csrf)
    assert sessions.find(token + "x", USER, PASSWORD, now=1001.0) is None
    assert sessions.find("", USER, PASSWORD, now=1001.0) is None


def test_the_store_keeps_no_cookie_value(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    with sessions._engine.connect() as conn:
        row = conn.execute(select(table)).one()
    assert token not in [str(value) for value in row]
    assert PASSWORD not in [str(value) for value in row]


def test_a_session_ends_at_its_lifetime_even_when_busy(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    for moment in (1025.0, 1050.0, 1075.0, 1099.0):  # used well within the idle limit
        assert sessions.find(token, USER, PASSWORD, now=moment) is not None
    assert sessions.find(token, USER, PASSWORD, now=1100.0) is None
    assert sessions.count() == 0  # an expired session is deleted, not kept


def test_an_idle_session_ends(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    assert sessions.find(token, USER, PASSWORD, now=1031.0) is None


def test_a_live_refresh_does_not_keep_a_session_alive(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    for moment in range(1002, 1030, 2):  # a page polling every 2 s
        assert sessions.find(token, USER, PASSWORD, now=float(moment), touch=False) is not None
    assert sessions.find(token, USER, PASSWORD, now=1031.0) is None


def test_signing_out_ends_the_session(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    other, _ = sessions.open(USER, PASSWORD, now=1000.0)
    sessions.close(token)
    assert sessions.find(token, USER, PASSWORD, now=1001.0) is None
    assert sessions.find(other, USER, PASSWORD, now=1001.0) is not None  # only that one


def test_a_changed_admin_password_ends_every_session(sessions: SessionStore) -> None:
    token, _ = sessions.open(USER, PASSWORD, now=1000.0)
    assert sessions.find(token, USER, "the-new-password", now=1001.0) is None
    assert sessions.find(token, USER, PASSWORD, now=1001.0) is None  # deleted, not just refused


def test_a_notice_is_kept_until_cleared(sessions: SessionStore) -> None:
    token, session = sessions.open(USER, PASSWORD, now=1000.0)
    sessions.notify(session, "error", "nothing to roll back to")
    found = sessions.find(token, USER, PASSWORD, now=1001.0)
    assert found is not None and found.notice == ("error", "nothing to roll back to")
    sessions.clear_notice(found)
    again = sessions.find(token, USER, PASSWORD, now=1002.0)
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
