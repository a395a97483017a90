"""Pausing and resuming a listener through the management API, seen from Flow (issue 14).

A real gateway application and a real executor (tests/inprocess): a paused service answers
every Flow endpoint 503 `listener_paused` and runs nothing, an execution already running
finishes with its result, the pause survives a restart and reaches a second gateway sharing
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from flowhost.client import CLIENT_HEADERS
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.inprocess.conftest import (
    ADMIN,
    EXAMPLES,
    LINK_TOKEN,
    InProcessCluster,
    in_process_cluster,
)
from tests.inprocess.test_flow_path import QUOTE
from tests.inprocess.test_routing import SLOW

PROBLEM_KIND = "x-manywho-service-problem-kind"


async def _pause(api: httpx.AsyncClient, service: str, **extra: Any) -> httpx.Response:
    return await api.post(
        "/api/listeners/pause", json={"runtime": "default", "service": service, **extra}
    )


async def _resume(api: httpx.AsyncClient, service: str) -> httpx.Response:
    return await api.post("/api/listeners/resume", json={"runtime": "default", "service": service})


def _assert_paused(response: httpx.Response, service: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers[PROBLEM_KIND] == "service"
    assert int(response.headers["retry-after"]) >= 1
    problem = response.json()
    assert problem["code"] == "listener_paused"
    assert f"'{service}'" in problem["message"] and "paused" in problem["message"]


async def _listener(api: httpx.AsyncClient, service: str) -> dict[str, Any]:
    response = await api.get("/api/listeners", params={"runtime": "default"})
    assert response.status_code == 200, response.text
    rows = [row for row in response.json() if row["service"] == service]
    assert len(rows) == 1, response.json()
    return rows[0]


async def test_a_paused_service_answers_503_on_every_endpoint_and_200_after_resume(
    cluster: InProcessCluster,
) -> None:
    await cluster.deploy((EXAMPLES / "countries.yaml").read_text())
    async with cluster.flow(await cluster.user()) as flow:
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200

        paused = await _pause(cluster.api, "/countries/", reason="database maintenance")
        assert paused.status_code == 200, paused.text
        assert paused.json()["paused"] is True and paused.json()["service"] == "countries"
        for method, path in [
            ("GET", "/fs/countries/metadata"),
            ("POST", "/fs/countries/metadata"),
            ("POST", "/fs/countries/metadata/install"),
            ("POST", "/fs/countries/data"),
            ("PUT", "/fs/countries/data"),
            ("POST", "/fs/countries/data/delete"),
            ("POST", "/fs/countries/file"),
            ("POST", "/fs/countries/file/content"),
            ("GET", "/fs/countries/health"),
        ]:
            response = await flow.request(method, path, json={})
            _assert_paused(response, "countries")
            assert "database maintenance" in response.json()["message"]
        # Another service of the runtime is not touched.
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200

        assert (await _pause(cluster.api, "shop", retry_after_s=120)).status_code == 200
        refused = await flow.post("/fs/shop/actions/quote", json=QUOTE)
        _assert_paused(refused, "shop")
        assert refused.headers["retry-after"] == "120"

        resumed = await _resume(cluster.api, "shop")
        assert resumed.status_code == 200 and resumed.json()["paused"] is False
        answer = await flow.post("/fs/shop/actions/quote", json=QUOTE)
        assert answer.status_code == 200, answer.text
        assert answer.json()["invokeType"] == "FORWARD"

    shop = await _listener(cluster.api, "shop")
    assert shop["paused"] is False
    assert shop["requests"] == 4 and shop["refused"] == 1 and shop["errors"] == 0
    countries = await _listener(cluster.api, "countries")
    assert countries["paused"] is True and countries["reason"] == "database maintenance"
    assert countries["refused"] == 9


async def test_a_paused_service_runs_nothing(cluster: InProcessCluster) -> None:
    await cluster.deploy(SLOW)
    await _pause(cluster.api, "slow")
    async with cluster.flow(await cluster.user()) as flow:
        for _ in range(3):
            _assert_paused(await flow.post("/fs/slow/actions/nap", json={}), "slow")
        await _resume(cluster.api, "slow")
        assert (await flow.post("/fs/slow/actions/nap", json={})).status_code == 200
    # History is written in order: once the served nap's summary is there, a refused call's
    # would be too.
    deadline = time.monotonic() + 10
    while not (
        naps := (await cluster.api.get("/api/executions", params={"process": "nap"})).json()
    ):
        assert time.monotonic() < deadline, "the served nap never reached the history"
        await asyncio.sleep(0.05)
    assert [n["status"] for n in naps] == ["ok"]


async def test_an_execution_started_before_the_pause_finishes_with_its_result(
    cluster: InProcessCluster,
) -> None:
    await cluster.deploy(SLOW)
    async with cluster.flow(await cluster.user()) as flow:
        running = asyncio.create_task(flow.post("/fs/slow/actions/nap", json={}))
        deadline = time.monotonic() + 5
        while not any(e["outstanding"] for e in (await cluster.api.get("/api/executors")).json()):
            assert time.monotonic() < deadline, "the nap never reached the executor"
            await asyncio.sleep(0.02)
        assert (await _pause(cluster.api, "slow")).status_code == 200
        _assert_paused(await flow.post("/fs/slow/actions/nap", json={}), "slow")
        finished = await running
    assert finished.status_code == 200, finished.text
    assert finished.json()["invokeType"] == "FORWARD"


async def test_unknown_services_and_runtimes_are_404_naming_them(
    cluster: InProcessCluster,
) -> None:
    unknown = await _pause(cluster.api, "nope")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_service"
    assert "'nope'" in unknown.json()["message"] and "shop" in unknown.json()["message"]
    assert (await _resume(cluster.api, "nope")).json()["error"] == "unknown_service"

    elsewhere = await cluster.api.post(
        "/api/listeners/pause", json={"runtime": "mars", "service": "shop"}
    )
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"] == "unknown_runtime"
    assert "'mars'" in elsewhere.json()["message"]
    listing = await cluster.api.get("/api/listeners", params={"runtime": "mars"})
    assert listing.status_code == 404 and listing.json()["error"] == "unknown_runtime"

    for body in (
        {"runtime": "default"},
        {"runtime": "default", "service": ""},
        {"runtime": "default", "service": "shop", "retry_after_s": 0},
        {"runtime": "default", "service": "shop", "reason": "x" * 501},
        ["shop"],
    ):
        refused = await cluster.api.post("/api/listeners/pause", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"] == "invalid_request"


async def test_the_listing_shows_versions_contents_and_traffic(
    cluster: InProcessCluster,
) -> None:
    older = (EXAMPLES / "shop.yaml").read_text().replace("version: ", "version: 0.", 1)
    await cluster.deploy(older)
    await cluster.deploy((EXAMPLES / "shop.yaml").read_text())  # back to the newer one
    await cluster.deploy((EXAMPLES / "countries.yaml").read_text())
    async with cluster.flow(await cluster.user()) as flow:
        for _ in range(3):
            assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
        assert (await flow.post("/fs/shop/actions/nope", json=QUOTE)).status_code == 404
        assert (await flow.post("/fs/shop/actions/quote", content=b"{")).status_code == 400
    shop = await _listener(cluster.api, "shop")
    assert shop["package"] == "shop" and shop["active_version"] not in shop["other_versions"]
    assert len(shop["other_versions"]) == 1 and shop["other_versions"][0].startswith("0.")
    assert shop["actions"] >= 2 and shop["data_types"] == 0 and shop["file_resources"] == 0
    assert (shop["requests"], shop["errors"], shop["server_errors"]) == (5, 2, 0)
    assert shop["requests_per_s"] > 0 and shop["errors_per_s"] > 0
    countries = await _listener(cluster.api, "countries")
    assert (countries["data_types"], countries["file_resources"]) == (1, 1)
    assert countries["requests"] == 0 and countries["requests_per_s"] == 0
    everything = (await cluster.api.get("/api/listeners")).json()
    assert {(row["runtime"], row["service"]) for row in everything} == {
        ("default", "shop"),
        ("default", "countries"),
    }


async def test_a_pause_outlives_undeploying_and_can_still_be_lifted(
    cluster: InProcessCluster,
) -> None:
    await _pause(cluster.api, "shop")
    assert (await cluster.api.delete("/api/runtimes/default/packages/shop")).status_code == 204
    row = await _listener(cluster.api, "shop")
    assert row["paused"] is True and row["package"] is None
    await cluster.deploy((EXAMPLES / "shop.yaml").read_text())
    async with cluster.flow(await cluster.user()) as flow:
        _assert_paused(await flow.post("/fs/shop/actions/quote", json=QUOTE), "shop")
        assert (await cluster.api.delete("/api/runtimes/default/packages/shop")).status_code == 204
        assert (await _resume(cluster.api, "shop")).status_code == 200
        listing = (await cluster.api.get("/api/listeners")).json()
        assert [row["service"] for row in listing] == []  # neither deployed nor paused
        await cluster.deploy((EXAMPLES / "shop.yaml").read_text())
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200


async def test_a_restarted_gateway_keeps_the_pause(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path) as first:
        await first.deploy((EXAMPLES / "shop.yaml").read_text())
        user = await first.user()
        assert (await _pause(first.api, "shop")).status_code == 200
    # The same data folder, so the same store.
    async with in_process_cluster(tmp_path) as restarted, restarted.flow(user) as flow:
        _assert_paused(await flow.post("/fs/shop/actions/quote", json=QUOTE), "shop")
        assert (await _resume(restarted.api, "shop")).status_code == 200
        assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200


@asynccontextmanager
async def _second_gateway(
    first: InProcessCluster, data_dir: Path, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Another gateway on the same PostgreSQL database and executors: (its API, its Flow)."""
    settings = GatewaySettings(
        data_dir=data_dir,
        database_url=database_url,
        admin_user=ADMIN[0],
        admin_password=ADMIN[1],
        link_token=LINK_TOKEN,
        executor_targets=[server.address for server in first.executors],
        discovery_interval_s=0.2,
        state_poll_interval_s=0.2,
        history_writer_process=False,
    )
    app = create_app(settings)
    async with app.api.router.lifespan_context(app.api):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://g2", auth=ADMIN, headers=CLIENT_HEADERS
            ) as api,
            httpx.AsyncClient(transport=transport, base_url="http://g2") as flow,
        ):
            yield api, flow


async def _eventually_status(
    flow: httpx.AsyncClient, auth: tuple[str, str], want: int, timeout_s: float = 10
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await flow.post("/fs/shop/actions/quote", json=QUOTE, auth=auth)
        if response.status_code == want:
            return
        assert time.monotonic() < deadline, (want, response.status_code, response.text)
        await asyncio.sleep(0.05)


async def test_two_gateways_sharing_postgresql_both_see_the_pause(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    async with in_process_cluster(tmp_path / "one", database_url=postgres_schema_url) as one:
        await one.deploy((EXAMPLES / "shop.yaml").read_text())
        user = await one.user()
        async with _second_gateway(one, tmp_path / "two", postgres_schema_url) as (api, flow):
            await _eventually_status(flow, user, 200)
            assert (await _pause(one.api, "shop")).status_code == 200
            await _eventually_status(flow, user, 503)  # the other gateway follows its poll
            assert (await _listener(api, "shop"))["paused"] is True

            assert (await _resume(api, "shop")).status_code == 200  # through the second one
            async with one.flow(user) as first_flow:
                await _eventually_status(first_flow, user, 200)
