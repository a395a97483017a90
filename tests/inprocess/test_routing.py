"""Picking an executor: a stopped one is routed around, a busy one's refusal is clear."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inprocess.conftest import EXAMPLES, in_process_cluster
from tests.inprocess.test_flow_path import QUOTE

SLOW = """
name: slow
version: 1.0.0
service:
  path: slow
  actions:
    - {name: nap, process: nap}
processes:
  nap:
    steps:
      - sleep: 1s
      - return: {}
"""


async def test_requests_go_around_an_executor_that_stopped(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path, executors=2) as cluster:
        await cluster.deploy((EXAMPLES / "shop.yaml").read_text())
        stopped, alive = cluster.executors
        await stopped.shutdown()
        await cluster.until_ready(1)
        assert await cluster.executors_ready() == [alive.address]
        async with cluster.flow(await cluster.user()) as flow:
            answers = [await flow.post("/fs/shop/actions/quote", json=QUOTE) for _ in range(20)]
        assert [a.status_code for a in answers] == [200] * 20


async def test_an_executor_at_its_limit_refuses_with_a_retryable_problem(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path, executor_overrides={"max_concurrency": 1}) as cluster:
        await cluster.deploy(SLOW)
        async with cluster.flow(await cluster.user()) as flow:
            first, second = await asyncio.gather(
                flow.post("/fs/slow/actions/nap", json={}),
                flow.post("/fs/slow/actions/nap", json={}),
            )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 503], (first.text, second.text)
        refused = first if first.status_code == 503 else second
        assert refused.headers["x-manywho-service-problem-kind"] == "service"
        assert refused.json()["code"] == "no_executor"
        assert "its limit" in refused.json()["message"]
