"""Start a real cluster (gateway + executor processes) for end-to-end tests, on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flowhost.devcluster import Cluster, running_cluster

__all__ = ["ROOT", "assert_eventually", "flowhost", "running_cluster"]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def flowhost(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the cluster, as a user would."""
    target = (
        []
        if args[0] in ("load", "probe")
        else ["--url", cluster.url, "--data-dir", str(cluster.data_dir)]
    )
    return subprocess.run(
        [sys.executable, "-m", "flowhost.cli.main", *args, *target],
        # Whole table rows, as a user piping to grep gets them (80 columns would cut ids).
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def assert_eventually(
    check: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.1
) -> T:
    """Retry `check` until it stops raising AssertionError, or re-raise after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval_s)
