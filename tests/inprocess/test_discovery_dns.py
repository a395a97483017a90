"""EXECUTOR_DNS with several names (a Kubernetes headless Service per runtime, as the Helm chart
sets it): the gateway finds the executors behind every name."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from executors.server import ExecutorServer
from flowhost.client import CLIENT_HEADERS
from gateway.app import create_app
from tests.inprocess.conftest import ADMIN, InProcessCluster, executor_settings, gateway_settings


async def test_every_name_of_executor_dns_is_resolved(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(ExecutorServer(executor_settings(runtime=runtime)))
            for runtime in ("default", "eu")
        ]
        names = [f"127.0.0.1:{server.address.rpartition(':')[2]}" for server in servers]
        # A name that does not resolve (yet) does not hide the others.
        dns = f"{names[0]}, no-such-host.invalid:50051 ,{names[1]}"
        app = create_app(gateway_settings(tmp_path, [], executor_dns=dns))
        await stack.enter_async_context(app.api.router.lifespan_context(app.api))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                auth=ADMIN,
                headers=CLIENT_HEADERS,
            )
        )
        await InProcessCluster(app, servers, api).until_ready(2)
        executors = (await api.get("/api/executors")).json()
    assert {(e["address"], e["runtime"]) for e in executors} == {
        (names[0], "default"),
        (names[1], "eu"),
    }
