"""Schedule triggers: once per due time across two gateways sharing PostgreSQL, and the
missed-fire policy after downtime."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from gateway.app import GatewayApp, create_app
from gateway.running import Gateway
from gateway.triggers.fires import FireStore
from tests.inprocess.conftest import InProcessCluster, gateway_settings, in_process_cluster

PACKAGE = """
name: ticks
version: "1"
service: {path: ticks}
processes:
  tick:
    steps:
      - map: '{due, trigger: $flow.trigger}'
      - return: {}
triggers:
  - name: tick
    process: tick
    schedule: {every: EVERY, missed: MISSED}
"""


def package(every: str = "1s", missed: str = "skip") -> str:
    return PACKAGE.replace("EVERY", every).replace("MISSED", missed)


def parts(app: GatewayApp) -> Gateway:
    assert app.api.gateway is not None
    return app.api.gateway


async def schedule_rows(cluster: InProcessCluster) -> list[dict[str, Any]]:
    await parts(cluster.app).history.flush()
    response = await cluster.api.get("/api/executions", params={"kind": "schedule", "limit": 100})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


@asynccontextmanager
async def second_gateway(
    first: InProcessCluster, data_dir: Path, url: str
) -> AsyncIterator[Gateway]:
    app = create_app(gateway_settings(data_dir, first.executors, database_url=url))
    async with app.api.router.lifespan_context(app.api):
        yield parts(app)


async def test_two_gateways_sharing_postgresql_fire_each_due_time_once(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    async with (
        in_process_cluster(tmp_path / "one", database_url=postgres_schema_url) as one,
        second_gateway(one, tmp_path / "two", postgres_schema_url) as two,
    ):
        first = parts(one.app)
        await one.deploy(package())
        deadline = time.monotonic() + 10
        while not (first.scheduler.fired + two.scheduler.fired):  # both see the version
            assert time.monotonic() < deadline, "the schedule never fired"
            await asyncio.sleep(0.05)
        start = time.monotonic()
        before = first.scheduler.fired + two.scheduler.fired
        await asyncio.sleep(4.0)
        seconds = time.monotonic() - start
        fired = first.scheduler.fired + two.scheduler.fired - before
        # One fire per second that passed (a tick late at either end at most), never two.
        assert int(seconds) - 1 <= fired <= int(seconds) + 1, (fired, seconds)
        # Each gateway tried the due times the other took: the leases decided.
        assert first.scheduler.lost + two.scheduler.lost >= fired - 1
        rows = await schedule_rows(one)
        total = first.scheduler.fired + two.scheduler.fired
        assert len(rows) >= total - 1  # the last may still be running
        assert {r["action"] for r in rows} == {"tick"}
        assert {r["status"] for r in rows} == {"ok"}


@pytest.mark.parametrize(("missed", "fires"), [("once", 1), ("skip", 0)])
async def test_after_downtime_missed_once_runs_the_latest_missed_fire_and_skip_does_not(
    tmp_path: Path, missed: str, fires: int
) -> None:
    # The last fire was three hours ago (three due times of an hourly schedule were missed
    # while no gateway ran); the next due time is up to an hour away.
    async with in_process_cluster(tmp_path) as cluster:
        await cluster.deploy(package("1h", missed))
    hour_ms = 3_600_000
    three_hours_ago = (int(time.time() * 1000) // hour_ms - 3) * hour_ms
    engine = create_engine(f"sqlite:///{tmp_path / 'flowhost.db'}")
    try:
        assert FireStore(engine).claim(("default", "ticks", "tick"), three_hours_ago, "earlier")
    finally:
        engine.dispose()
    async with in_process_cluster(tmp_path) as restarted:
        scheduler = parts(restarted.app).scheduler
        deadline = time.monotonic() + 3
        while scheduler.next_due(("default", "ticks", "tick")) is None:
            assert time.monotonic() < deadline, "the schedule was never planned"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert scheduler.fired == fires
        rows = await schedule_rows(restarted)
        assert len(rows) == fires


async def test_a_paused_schedule_does_not_fire_until_resumed(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        scheduler = parts(cluster.app).scheduler
        await cluster.deploy(package())

        async def fired_more_than(count: int) -> None:
            deadline = time.monotonic() + 5
            while scheduler.fired <= count:
                assert time.monotonic() < deadline, "the schedule did not fire"
                await asyncio.sleep(0.05)

        await fired_more_than(0)
        ref = {"runtime": "default", "service": "ticks#tick"}
        assert (await cluster.api.post("/api/listeners/pause", json=ref)).status_code == 200
        await asyncio.sleep(0.3)  # a fire that had started before the pause ends
        paused_at = scheduler.fired
        await asyncio.sleep(2.0)  # two due times pass
        assert scheduler.fired == paused_at
        assert (await cluster.api.post("/api/listeners/resume", json=ref)).status_code == 200
        await fired_more_than(paused_at)
