"""Start and stop: a part that cannot start stops every part started before it, and leaves
nothing behind (no task, thread, child process or open database file), so the gateway starts
again on the same data folder.

The gateway runs its lifespan as uvicorn would; a real executor stays up throughout, so what
is checked is the gateway's own leftovers (and the executor's view of its stream).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from executors.server import ExecutorServer
from flowhost.client import CLIENT_HEADERS
from gateway.app import GatewayApp, create_app
from tests.inprocess.conftest import ADMIN, EXAMPLES, executor_settings, gateway_settings
from tests.inprocess.test_flow_path import QUOTE

# The gateway's background loops, by the names their tasks carry while it runs.
LOOPS = {
    "store poller",
    "reconciler",
    "history writer",
    "history pruner",
    "callback sender",
    "waiting executions",
}
_POOLED_THREADS = ("asyncio_", "AnyIO worker thread")


class Leftovers(NamedTuple):
    tasks: frozenset[str]
    threads: frozenset[str]
    children: frozenset[int]
    open_files: tuple[str, ...]  # under the data folder (the SQLite store and its journal)


def leftovers(data_dir: Path) -> Leftovers:
    """What this process holds now, apart from what is always there while the executor runs:
    the gRPC server's call slots (re-armed after each call) and idle pooled worker threads
    (the event loop's for `to_thread`, AnyIO's for FastAPI's sync routes: kept by design)."""
    tasks = frozenset(
        f"{task.get_name()} ({getattr(task.get_coro(), '__qualname__', '?')})"
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not getattr(task.get_coro(), "__qualname__", "").startswith("AioServer.")
    )
    threads = frozenset(
        t.name for t in threading.enumerate() if not t.name.startswith(_POOLED_THREADS)
    )
    children = frozenset(
        int(pid)
        for task in Path("/proc/self/task").iterdir()
        for pid in (task / "children").read_text().split()
    )
    files = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith(str(data_dir)):
            files.append(target)
    return Leftovers(tasks, threads, children, tuple(sorted(files)))


async def settled(data_dir: Path, baseline: Leftovers, timeout_s: float = 10.0) -> Leftovers:
    """Leftovers once they are back to `baseline`, or as they are at the timeout (the executor's
    side of a closed stream ends a moment after the gateway closed it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = leftovers(data_dir)
        if now == baseline or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.05)


@asynccontextmanager
async def lifespan(app: GatewayApp) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan as the server would, with a management API client."""
    async with (
        app.api.router.lifespan_context(app.api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            auth=ADMIN,
            headers=CLIENT_HEADERS,
        ) as api,
    ):
        yield api


async def serves_a_flow_call(app: GatewayApp, api: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 10
    while not [e for e in (await api.get("/api/executors")).json() if e["ready"]]:
        assert time.monotonic() < deadline, "the executor never became ready"
        await asyncio.sleep(0.05)
    shop = (EXAMPLES / "shop.yaml").read_text()
    deployed = await api.post(
        "/api/runtimes/default/packages", content=shop, headers={"content-type": "application/yaml"}
    )
    assert deployed.status_code in (200, 201), deployed.text
    user = await api.post("/api/runtimes/default/users", json={"name": f"flow-{time.time_ns()}"})
    assert user.status_code == 201, user.text
    auth = (user.json()["name"], user.json()["token"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", auth=auth) as flow:
        answer = await flow.post("/fs/shop/actions/quote", json=QUOTE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["invokeType"] == "FORWARD"


UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1


@pytest.mark.parametrize("failing", ["store", "history writer"])
async def test_a_part_that_cannot_start_stops_the_parts_started_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    async with ExecutorServer(executor_settings()) as executor:
        baseline = leftovers(tmp_path)
        overrides: dict[str, Any] = {"history_writer_process": True}
        with monkeypatch.context() as patched:
            if failing == "store":  # the first part: its database cannot be opened
                overrides["database_url"] = UNREACHABLE
                expected: type[Exception] = OperationalError
                message = "port 1 failed"
            else:  # after the store, the executor pool, the control plane and the reconciler
                patched.setattr(sys, "executable", str(tmp_path / "no-such-python"))
                expected = OSError
                message = "cannot start the history writer process .*no-such-python"
            app = create_app(gateway_settings(tmp_path, [executor], **overrides))
            with pytest.raises(expected, match=message):
                async with lifespan(app):
                    pytest.fail("the gateway started though a part of it could not")
        assert await settled(tmp_path, baseline) == baseline
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        ) as client:
            answer = await client.post("/fs/shop/actions/quote", json=QUOTE)
        assert answer.status_code == 503
        assert answer.json()["code"] == "not_running"

        # The same data folder, and this time every part starts (so the checks above can fail).
        app = create_app(gateway_settings(tmp_path, [executor], history_writer_process=True))
        async with lifespan(app) as api:
            await serves_a_flow_call(app, api)
            running = leftovers(tmp_path)
            names = {task.split(" (")[0] for task in running.tasks}
            assert names >= LOOPS, f"not running: {LOOPS - names}"
            assert running.children - baseline.children, "no history writer child"
            assert any(f.endswith("flowhost.db") for f in running.open_files)
        assert await settled(tmp_path, baseline) == baseline
