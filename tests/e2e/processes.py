"""Gateway and executor processes started one by one, for topologies `flowhost up` does not make:
several gateways sharing one store, executors in other network namespaces.

Each process runs the command its container runs (`python -m gateway`, `python -m executors`)
in its own session, so a test can kill -9 the one process and still clean up everything it
started (the gateway's history writer is its child)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without FLOWHOST_ settings (the test's own are explicit), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWHOST_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written into the source tree
    return {**env, **extra}


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    pass_fds: Sequence[int] = ()
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                pass_fds=tuple(self.pass_fds),
                start_new_session=True,
            )
        return self

    def kill9(self) -> None:
        """A crash: SIGKILL to the process alone (its children are left to notice)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole session after a grace: nothing is left behind."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(8)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def python(module: str, *prefix: str) -> list[str]:
    """The command that runs `python -m module`, after an optional prefix (ip netns exec NS)."""
    return [*prefix, sys.executable, "-m", module]


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` (errors count as not yet) until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError) as error:
            last = f" ({type(error).__name__}: {error})"
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout_s:g}s{last}")
