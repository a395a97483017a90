"""The gateway's package limits: refusals that name the limit, and what stays allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import GatewayError
from gateway.package_limits import PackageLimits

EXAMPLES = Path(__file__).resolve().parents[2] / "flowhost" / "examples"


def _refusal(limits: PackageLimits, source: str) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        limits.check(source)
    return caught.value


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_examples_are_within_the_default_limits(path: Path) -> None:
    PackageLimits().check(path.read_text())


def test_depth_counts_what_an_alias_brings_along() -> None:
    limits = PackageLimits(max_depth=5)
    limits.check("a: &x [[1]]\nb: [*x]\n")  # map, list, list, list, scalar: 5
    error = _refusal(limits, "a: &x [[1]]\nb: [[*x]]\n")
    assert error.details == {
        "limit": "package_max_depth",
        "value": 5,
        "setting": "FLOWHOST_PACKAGE_MAX_DEPTH",
    }
    assert error.message.startswith("line 2, column 6: ")  # the alias


def test_values_count_aliases_expanded() -> None:
    limits = PackageLimits(max_nodes=30)
    limits.check("a: &x [1, 2, 3, 4]\nb: [*x, *x]\n")
    error = _refusal(limits, "a: &x [1, 2, 3, 4]\nb: [*x, *x, *x, *x, *x, *x]\n")
    assert error.status == 422 and error.details["limit"] == "package_max_nodes"


def test_aliases_are_counted_and_recursive_ones_refused() -> None:
    limits = PackageLimits(max_aliases=2)
    limits.check("a: &x 1\nb: [*x, *x]\n")
    assert _refusal(limits, "a: &x 1\nb: [*x, *x, *x]\n").details["limit"] == (
        "package_max_aliases"
    )
    assert "contains it" in _refusal(limits, "a: &x [*x]\n").message


def test_a_profile_is_measured_with_its_aliases_and_named() -> None:
    limits = PackageLimits(profile_max_bytes=200)
    base = "service:\n  profiles:\n    Small: &s {description: '" + "x" * 150 + "'}\n"
    limits.check(base)
    error = _refusal(limits, base + "    Big: {allOf: [*s, *s]}\n")
    assert "'Big'" in error.message and error.details["limit"] == "package_profile_max_bytes"
    # Only profiles are measured this way: the same text elsewhere is fine.
    limits.check("x:\n  y: {allOf: [" + ", ".join(["'" + "x" * 150 + "'"] * 2) + "]}\n")


def test_size_is_413_and_syntax_errors_are_invalid_package() -> None:
    error = _refusal(PackageLimits(max_bytes=10), "name: too-long\n")
    assert (error.status, error.code) == (413, "package_too_large")
    error = _refusal(PackageLimits(), "a: [\n")
    assert (error.status, error.code) == (422, "invalid_package")
    assert error.details["issues"][0]["path"] == "<yaml>"
