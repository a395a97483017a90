"""The in-process tier: a real gateway application and real executors in the test's own process.

The gateway is the real ASGI application (`create_app`, its lifespan run as the server would run
it) reached through httpx's ASGI transport; the executors are real `ExecutorServer`s on port 0,
reached over real gRPC. No subprocesses, so routes, actions, routing, the executor client and
WAIT can be tested in well under a second each; tests/e2e/ keeps the whole-process view.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from executors.server import ExecutorServer
from executors.settings import ExecutorSettings
from flowhost.client import CLIENT_HEADERS
from gateway.app import GatewayApp, create_app
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "flowhost" / "examples"
ADMIN = ("admin", "in-process-admin")
LINK_TOKEN = "in-process-cluster-token"  # the executor link's shared secret


@dataclass
class InProcessCluster:
    app: GatewayApp
    executors: list[ExecutorServer]
    api: httpx.AsyncClient  # the management API, as the admin

    def flow(self, auth: tuple[str, str]) -> httpx.AsyncClient:
        """A client of the Flow endpoints, as a runtime user (close it, or use `async with`)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://gateway", auth=auth
        )

    async def deploy(self, source: str, runtime: str = "default") -> dict[str, Any]:
        response = await self.api.post(
            f"/api/runtimes/{runtime}/packages",
            content=source.encode(),
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        await self.until_served(f"{body['name']}@{body['version']}", runtime)
        return body

    async def until_served(
        self, key: str, runtime: str = "default", timeout_s: float = 10.0
    ) -> None:
        """Wait until every ready executor of `runtime` (at least one) hosts deployment `key`.

        Deploy promises that the version is stored and pushed; its answer names the executors
        hosting it, which may be none for a moment: a push that failed waits for the next
        reconcile pass, and routing goes around an executor not heard from for SILENCE_S (on
        a loaded machine, a compile holding the GIL can do that). The first Flow call then
        gets 503 no_executor, as the metrics test did under load; so a test deploys, then
        waits for the real condition, as `GET /api/executors` shows it."""
        deadline = time.monotonic() + timeout_s
        while True:
            executors = (await self.api.get("/api/executors")).json()
            ready = [e for e in executors if e["runtime"] == runtime and e["ready"]]
            if ready and all(key in e["deployments"] for e in ready):
                return
            assert time.monotonic() < deadline, f"{key} not served in {timeout_s}s: {executors}"
            await asyncio.sleep(0.05)

    async def user(self, name: str = "flow", runtime: str = "default") -> tuple[str, str]:
        response = await self.api.post(f"/api/runtimes/{runtime}/users", json={"name": name})
        assert response.status_code == 201, response.text
        return name, response.json()["token"]

    async def executors_ready(self) -> list[str]:
        response = await self.api.get("/api/executors")
        return [e["address"] for e in response.json() if e["ready"]]

    async def until_ready(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(await self.executors_ready()) != count:
            assert time.monotonic() < deadline, f"{count} executors not ready in {timeout_s}s"
            await asyncio.sleep(0.05)


def executor_settings(**overrides: Any) -> ExecutorSettings:
    return ExecutorSettings(port=0, drain_seconds=0, link_token=LINK_TOKEN, **overrides)


def gateway_settings(
    data_dir: Path, executors: list[ExecutorServer], **overrides: Any
) -> GatewaySettings:
    """A gateway of these executors, quick to notice changes, its history written in-process
    (a test that wants the writer child asks for it)."""
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_user": ADMIN[0],
        "admin_password": ADMIN[1],
        "link_token": LINK_TOKEN,
        "executor_targets": [server.address for server in executors],
        "discovery_interval_s": 0.2,
        "state_poll_interval_s": 0.2,
        "callback_poll_interval_s": 0.2,
        "history_writer_process": False,
        # The tests' HTTP servers (callback receivers) listen on loopback.
        "loopback_runtimes": ["default"],
    }
    return GatewaySettings(**{**defaults, **overrides})


@asynccontextmanager
async def in_process_cluster(
    data_dir: Path,
    executors: int = 1,
    executor_overrides: dict[str, Any] | None = None,
    **gateway_overrides: Any,
) -> AsyncIterator[InProcessCluster]:
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                ExecutorServer(executor_settings(**(executor_overrides or {})))
            )
            for _ in range(executors)
        ]
        app = create_app(gateway_settings(data_dir, servers, **gateway_overrides))
        await stack.enter_async_context(app.api.router.lifespan_context(app.api))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                auth=ADMIN,
                headers=CLIENT_HEADERS,  # the management API's CSRF guard
            )
        )
        cluster = InProcessCluster(app, servers, api)
        await cluster.until_ready(executors)
        yield cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[InProcessCluster]:
    """A gateway and one executor, with the shop example deployed."""
    async with in_process_cluster(tmp_path) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        yield running
