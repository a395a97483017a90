"""The executor's own YAML bounds: what the gateway refuses first is refused here too."""

from __future__ import annotations

import pytest

from executors.runtime import PackageInvalid, YamlLimits, load_package


def _issue(source: str, limits: YamlLimits | None = None) -> str:
    with pytest.raises(PackageInvalid) as caught:
        load_package(source, limits)
    (issue,) = caught.value.issues
    assert issue.path == "<yaml>"
    return issue.message


def test_a_100000_deep_nesting_is_an_issue_not_a_recursion_error() -> None:
    assert "nested deeper than 64 levels" in _issue("x: " + "[" * 100_000 + "]" * 100_000)
    assert "nested deeper than 64 levels" in _issue("- " * 100_000 + "x")


def test_an_alias_bomb_is_refused_before_it_is_built() -> None:
    rows = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    assert "more than 250000 values" in _issue("\n".join(rows))


def test_limits_are_the_callers() -> None:
    tight = YamlLimits(max_depth=3, max_aliases=1, max_nodes=10)
    assert "more than 1 aliases" in _issue("a: &x 1\nb: [*x, *x]", tight)
    assert "deeper than 3" in _issue("a: {b: {c: 1}}", tight)
    assert "more than 10 values" in _issue("a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", tight)
    assert "contains it" in _issue("a: &x {b: *x}")
