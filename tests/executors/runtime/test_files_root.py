"""Paths a step gives resolve inside the runtime's files root, or are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from executors.runtime.errors import StepError
from executors.runtime.files_root import resolve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "invoices").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return tmp_path / "root"


def test_relative_paths_resolve_inside(root: Path) -> None:
    assert resolve(str(root), "invoices") == root.resolve() / "invoices"
    assert resolve(str(root), "invoices/2026/../2025") == root.resolve() / "invoices" / "2025"
    assert resolve(str(root), ".") == root.resolve()
    assert resolve(str(root), "not/made/yet") == root.resolve() / "not" / "made" / "yet"


@pytest.mark.parametrize(
    "path", ["/etc", "/", "..", "../outside", "invoices/../../outside", "~", "~root/x", "\\x"]
)
def test_paths_out_of_the_root_are_refused_without_naming_it(root: Path, path: str) -> None:
    with pytest.raises(StepError) as refused:
        resolve(str(root), path)
    assert refused.value.code == "path_outside_root"
    assert str(root) not in refused.value.message and str(root.parent) not in refused.value.message


def test_symlinks_out_of_the_root_are_refused_and_inside_followed(root: Path) -> None:
    os.symlink(root.parent / "outside", root / "out")
    os.symlink(root / "invoices", root / "in")
    with pytest.raises(StepError, match="outside the runtime's files root"):
        resolve(str(root), "out")
    with pytest.raises(StepError, match="outside"):
        resolve(str(root), "out/deeper")
    assert resolve(str(root), "in") == root.resolve() / "invoices"


def test_nul_and_huge_paths_are_refused(root: Path) -> None:
    for path in ("a\x00b", "a" * 5000):
        with pytest.raises(StepError) as refused:
            resolve(str(root), path)
        assert refused.value.code == "path_outside_root"
        assert len(refused.value.message) < 200


def test_absolute_paths_inside_are_taken_only_when_asked(root: Path) -> None:
    inside = str(root / "countries.db")
    with pytest.raises(StepError, match="absolute"):
        resolve(str(root), inside)
    assert resolve(str(root), inside, absolute=True) == root.resolve() / "countries.db"
    with pytest.raises(StepError, match="outside"):
        resolve(str(root), "/etc/passwd", absolute=True)
