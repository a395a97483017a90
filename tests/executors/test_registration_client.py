"""The executor's registration settings: what cannot work is refused at start, naming the
setting (the registration itself is tested against a real gateway in
tests/inprocess/test_registration.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from executors.registration import RegistrationMisconfigured, advertised, sign
from executors.settings import ExecutorSettings

TOKEN = b"a-cluster-token-of-enough-length"


def test_the_bound_address_is_registered_unless_another_is_advertised() -> None:
    assert advertised(["http://gw:8080"], "", "127.0.0.1:5000", [TOKEN]) == "127.0.0.1:5000"
    assert advertised(["https://gw"], "exec-1.local:5000", "0.0.0.0:5000", [TOKEN]) == (
        "exec-1.local:5000"
    )


@pytest.mark.parametrize(
    ("gateways", "advertise", "bound", "tokens", "says"),
    [
        (["gw:8080"], "", "127.0.0.1:1", [TOKEN], "not an http:// or https:// URL"),
        (["http://gw"], "", "127.0.0.1:1", [], "needs a cluster token"),
        (["http://gw"], "", "0.0.0.0:5000", [TOKEN], "FLOWHOST_EXECUTOR_ADVERTISE"),
        (["http://gw"], "", "[::]:5000", [TOKEN], "FLOWHOST_EXECUTOR_ADVERTISE"),
        (["http://gw"], "exec-1", "127.0.0.1:1", [TOKEN], "is not host:port"),
        (["http://gw"], "exec-1:99999", "127.0.0.1:1", [TOKEN], "is not host:port"),
    ],
)
def test_a_registration_that_cannot_work_is_refused_at_start(
    gateways: list[str], advertise: str, bound: str, tokens: list[bytes], says: str
) -> None:
    with pytest.raises(RegistrationMisconfigured, match=says):
        advertised(gateways, advertise, bound, tokens)


def test_gateways_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWHOST_EXECUTOR_GATEWAYS", "http://a:8080, https://b ,")
    assert ExecutorSettings().gateways == ["http://a:8080", "https://b"]


def test_each_accepted_token_signs_the_message() -> None:
    """A rotation: the gateway may hold either token, so both sign (gateway/registration.py
    checks them; tests/inprocess/test_registration.py sends them to a real gateway)."""
    other = b"the-next-cluster-token-of-enough-length"
    header = sign([TOKEN, other], "POST", "/api/executors/registrations", 1700, b"{}")
    stamp, sigs = header.split(";")
    assert stamp == "t=1700"
    message = b"flowhost-registration-v1\nPOST\n/api/executors/registrations\n1700\n{}"
    assert sigs.removeprefix("sig=").split(",") == [
        hmac.new(t, message, hashlib.sha256).hexdigest() for t in (TOKEN, other)
    ]
