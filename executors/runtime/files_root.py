"""The runtime's files root: every path a step touches resolves inside it.

A folder or file name given to a step (from a package default, an operator's configuration
value or anything else) is relative to the root. Absolute paths, `..` that climbs out, and
symbolic links that point out of the root are refused with `path_outside_root`; the message
never shows where the root is on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import StepError

#: Longest path accepted from a step, in characters (a longer one is refused, not truncated).
MAX_PATH_CHARS = 1024


def root_folder(files_root: str) -> Path:
    """The root as an absolute, symlink-free path; empty means the working folder."""
    return Path(os.path.realpath(files_root or os.getcwd()))


def resolve(files_root: str, path: str, what: str = "folder", *, absolute: bool = False) -> Path:
    """`path` inside the root, symlinks resolved (raises StepError `path_outside_root`).

    With `absolute`, an absolute path is taken when it lies inside the root (SQLite URLs).
    """
    shown = path if len(path) <= 100 else path[:100] + "…"
    if "\x00" in path or len(path) > MAX_PATH_CHARS:
        raise StepError(f"{what} {shown!r} is not a usable path", code="path_outside_root")
    if (os.path.isabs(path) and not absolute) or path.startswith(("~", "\\")):
        raise StepError(
            f"{what} {shown!r} is an absolute path; give a path relative to the runtime's "
            "files root",
            code="path_outside_root",
        )
    root = root_folder(files_root)
    target = Path(os.path.realpath(root / path))
    if target != root and root not in target.parents:
        raise StepError(
            f"{what} {shown!r} is outside the runtime's files root", code="path_outside_root"
        )
    return target
