"""The data folder is made private at start, also when an older version left it readable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.data_folder import make_private


@pytest.fixture(autouse=True)
def restore_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_world_readable_folder_is_repaired_and_new_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "logs").mkdir(parents=True)
    folder.chmod(0o755)
    (folder / "logs").chmod(0o755)
    (folder / "flowhost.db").write_text("x")
    (folder / "flowhost.db").chmod(0o644)
    (folder / "logs" / "gateway.log").write_text("x")
    (folder / "logs" / "gateway.log").chmod(0o666)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    (folder / "link").symlink_to(outside)

    make_private(folder)

    assert mode(folder) == 0o700
    assert mode(folder / "logs") == 0o700
    assert mode(folder / "flowhost.db") == 0o600
    assert mode(folder / "logs" / "gateway.log") == 0o600
    assert mode(outside) == 0o644  # a link out of the folder is not followed
    (folder / "new.json").write_text("{}")  # the umask now covers what this process writes
    assert mode(folder / "new.json") == 0o600


def test_a_missing_folder_is_created_private(tmp_path: Path) -> None:
    make_private(tmp_path / "a" / "b")
    assert mode(tmp_path / "a" / "b") == 0o700
