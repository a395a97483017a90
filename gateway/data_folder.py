"""The data folder is private: 0700, and every file in it 0600, whoever writes it.

It holds the store (Flow's user strings, recorded documents), the logs, admin and demo
credentials and generated keys. `make_private` sets a umask of 077 for this process (and so for
the children it starts: SQLite's -wal/-shm files, log files, files a package's steps write) and
repairs a folder an older version left world-readable.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("flowhost.gateway")

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private(folder: Path) -> None:
    """Create `folder` 0700 (or make it so), and take group and other access from everything
    inside. Symbolic links are left alone: chmod would follow them out of the folder."""
    os.umask(0o077)
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as error:  # what needs the folder reports it; nothing here to protect
        log.warning("data folder %s cannot be created: %s", folder, error)
        return
    repaired = _restrict(folder, FOLDER_MODE)
    for root, folders, files in os.walk(folder, followlinks=False):
        for name in folders:
            repaired += _restrict(Path(root, name), FOLDER_MODE)
        for name in files:
            repaired += _restrict(Path(root, name), FILE_MODE)
    if repaired:
        log.warning("data folder %s: took group/other access from %d entries", folder, repaired)


def _restrict(path: Path, mode: int) -> int:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
            return 0
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except OSError as error:  # a file removed meanwhile, or one another user owns
        log.warning("data folder: cannot restrict %s: %s", path, error)
        return 0
    return 1
