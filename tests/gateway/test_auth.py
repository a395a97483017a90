"""Basic auth of runtime users and of the admin; credentials come from a real store."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.auth import Authenticator, AuthError, RuntimeUser, check_admin, hash_token
from gateway.store import Credential, Store


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


def error_code(authenticator: Authenticator, header: bytes | str | None) -> str:
    with pytest.raises(AuthError) as caught:
        authenticator.authenticate(header)
    return caught.value.code


@pytest.fixture
def auth() -> Authenticator:
    authenticator = Authenticator()
    authenticator.load(
        [
            Credential("alice", "prod", hash_token("alice-token")),
            Credential("bob", "dev", hash_token("bob-token")),
        ]
    )
    return authenticator


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_good_credentials_select_the_runtime(auth: Authenticator) -> None:
    assert auth.authenticate(basic("alice", "alice-token")) == RuntimeUser("alice", "prod")
    assert auth.authenticate(basic("bob", "bob-token").encode()) == RuntimeUser("bob", "dev")
    # The scheme is case-insensitive (RFC 7617) and surrounding spaces are tolerated.
    encoded = basic("alice", "alice-token").split(" ", 1)[1]
    assert auth.authenticate(f"  bASIC   {encoded} ").name == "alice"


def test_cached_answers_are_the_same(auth: Authenticator) -> None:
    header = basic("alice", "alice-token")
    first = auth.authenticate(header)
    assert auth.authenticate(header) is first


def test_wrong_token_and_unknown_user_look_the_same(auth: Authenticator) -> None:
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(basic("alice", "bob-token"))
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(basic("mallory", "alice-token"))
    assert wrong.value.code == unknown.value.code == "invalid_credentials"
    assert wrong.value.message == unknown.value.message == "unknown user or wrong token"
    assert error_code(auth, basic("alice", "")) == "invalid_credentials"
    assert error_code(auth, basic("alice", "alice-token\n")) == "invalid_credentials"


def test_nothing_is_known_before_load() -> None:
    assert error_code(Authenticator(), basic("alice", "alice-token")) == "invalid_credentials"


@pytest.mark.parametrize("header", [None, "", b"", "   "])
def test_missing_credentials(auth: Authenticator, header: bytes | str | None) -> None:
    with pytest.raises(AuthError) as caught:
        auth.authenticate(header)
    assert caught.value.code == "missing_credentials"
    assert caught.value.message == "missing credentials"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer abc.def", id="not-basic"),
        pytest.param("Basic", id="no-credentials"),
        pytest.param("Basic !!!notbase64!!!", id="bad-base64"),
        pytest.param("Basic YWxpY2U6YWxpY2UtdG9rZW4", id="bad-padding"),
        pytest.param("Basic " + base64.b64encode(b"alice-token").decode(), id="no-colon"),
        pytest.param("Basic " + base64.b64encode(b":alice-token").decode(), id="empty-name"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:\x80").decode(), id="not-utf8"),
        pytest.param("Basic wählen", id="non-ascii-text"),
        pytest.param(b"Basic \xff\xfe", id="non-ascii-bytes"),
        pytest.param("Basic\t" + basic("alice", "alice-token")[6:], id="tab-separator"),
        pytest.param("Basic\udcff", id="lone-surrogate"),
    ],
)
def test_malformed_headers(auth: Authenticator, header: bytes | str) -> None:
    with pytest.raises(AuthError) as caught:
        auth.authenticate(header)
    assert caught.value.code == "malformed_credentials"
    assert caught.value.message == "malformed basic auth header"


def test_tokens_may_contain_colons(auth: Authenticator) -> None:
    auth.load([Credential("carol", "prod", hash_token("a:b:c"))])
    assert auth.authenticate(basic("carol", "a:b:c")) == RuntimeUser("carol", "prod")


def test_rotation_and_removal_invalidate_the_cache(store: Store) -> None:
    auth = Authenticator()
    old = store.add_user("prod", "alice")
    bob = store.add_user("dev", "bob")
    auth.load(store.credentials())
    old_header = basic("alice", old)
    assert auth.authenticate(old_header).runtime == "prod"  # now cached
    assert auth.authenticate(basic("bob", bob)).runtime == "dev"

    new = store.rotate_token("alice")
    auth.load(store.credentials())
    assert error_code(auth, old_header) == "invalid_credentials"
    assert auth.authenticate(basic("alice", new)) == RuntimeUser("alice", "prod")

    store.remove_user("bob")
    auth.load(store.credentials())
    assert error_code(auth, basic("bob", bob)) == "invalid_credentials"


def test_the_cache_stays_bounded() -> None:
    auth = Authenticator(cache_size=8)
    auth.load([Credential(f"user{i}", "prod", hash_token(f"token{i}")) for i in range(50)])
    for round_ in range(3):
        for i in range(50):
            header = basic(f"user{i}", f"token{i}")
            assert auth.authenticate(header).name == f"user{i}", round_
            assert len(auth._state.verified) <= 8


@given(header=st.one_of(st.none(), st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_headers_raise_only_auth_errors(header: bytes | str | None) -> None:
    auth = Authenticator()
    auth.load([Credential("alice", "prod", hash_token("alice-token"))])
    try:
        user = auth.authenticate(header)
    except AuthError as error:
        assert error.code in {"missing_credentials", "malformed_credentials", "invalid_credentials"}
    else:  # only the one right header gets in
        assert user == RuntimeUser("alice", "prod")


@given(
    header=st.one_of(
        st.binary(max_size=100),
        st.text(max_size=100),
        st.builds(
            lambda raw: b"Basic " + base64.b64encode(raw),
            st.binary(max_size=60),
        ),
    )
)
def test_arbitrary_basic_payloads_raise_only_auth_errors(header: bytes | str) -> None:
    auth = Authenticator()
    auth.load([Credential("alice", "prod", hash_token("alice-token"))])
    with pytest.raises(AuthError):
        auth.authenticate(header)


# --- the management API's admin -----------------------------------------------------------------


def test_check_admin_accepts_only_the_admin() -> None:
    check_admin(basic("admin", "s3cret"), "admin", "s3cret")
    check_admin(basic("admin", "s3cret").encode(), "admin", "s3cret")
    for header in (basic("admin", "wrong"), basic("root", "s3cret"), basic("admin", "s3cret ")):
        with pytest.raises(AuthError) as caught:
            check_admin(header, "admin", "s3cret")
        assert caught.value.code == "invalid_credentials"
    with pytest.raises(AuthError) as missing:
        check_admin(None, "admin", "s3cret")
    assert missing.value.code == "missing_credentials"
    with pytest.raises(AuthError) as malformed:
        check_admin("Basic %%%", "admin", "s3cret")
    assert malformed.value.code == "malformed_credentials"


def test_check_admin_with_no_password_configured_accepts_nobody() -> None:
    with pytest.raises(AuthError):
        check_admin(basic("admin", ""), "admin", "")


def test_check_admin_handles_non_ascii() -> None:
    check_admin(basic("ädmin", "pässwörd"), "ädmin", "pässwörd")
    with pytest.raises(AuthError):
        check_admin(basic("ädmin", "passwörd"), "ädmin", "pässwörd")
