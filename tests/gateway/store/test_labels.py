"""Runtime label syntax (Kubernetes'), selectors, and the canary split's arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.services import Canary
from gateway.store import InvalidLabel
from gateway.store.labels import matches, parse_label, parse_selector


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tier=prod", ("tier", "prod")),
        ("tier=", ("tier", "")),  # an empty value is a value
        ("example.com/zone=b-2", ("example.com/zone", "b-2")),
        ("a=b=c", None),  # '=' is not allowed in a value
        (f"{'k' * 63}=v", (f"{'k' * 63}", "v")),
        (f"{'k' * 64}=v", None),
        (f"k={'v' * 64}", None),
        ("tier", None),
        ("=prod", None),
        ("Example.com/zone=a", None),  # the prefix is a lower-case DNS name
        ("/zone=a", None),
        ("zone-=a", None),
        ("zone=a ", None),
    ],
)
def test_labels_follow_kubernetes_syntax(text: str, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(InvalidLabel) as refused:
            parse_label(text)
        assert refused.value.code == "invalid_label"
    else:
        assert parse_label(text) == expected


def test_selectors_are_anded_and_a_contradiction_is_refused() -> None:
    selector = parse_selector(["tier=prod", "customer=acme", "tier=prod"])
    assert selector == {"tier": "prod", "customer": "acme"}
    assert matches({"tier": "prod", "customer": "acme", "zone": "b"}, selector)
    assert not matches({"tier": "prod"}, selector)
    with pytest.raises(InvalidLabel, match="twice"):
        parse_selector(["tier=prod", "tier=test"])


@given(percent=st.integers(1, 99), hundreds=st.integers(1, 5))
def test_a_canary_takes_exactly_its_percent_of_every_hundred(percent: int, hundreds: int) -> None:
    canary = Canary(service=None, percent=percent)  # type: ignore[arg-type]
    taken = [canary.take() for _ in range(100 * hundreds)]
    assert sum(taken) == percent * hundreds
    for start in range(0, len(taken), 100):
        assert sum(taken[start : start + 100]) == percent
