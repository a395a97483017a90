"""Canary releases (issue 15): a second version beside the active one takes its share of new
executions, counted per version; promote and abort; a WAIT started on the canary is called back
with the canary's answer even after the canary was aborted, and its version stays hosted until
then. Real gateway application, real executor over gRPC, real callback receiver."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.console.test_console_http import browser, signed_in
from tests.inprocess.conftest import InProcessCluster, in_process_cluster
from tests.inprocess.test_metrics import _scrape, _value
from tests.inprocess.test_waiting import Receiver, receiver  # noqa: F401  (the fixture)


def package(version: str, nap: str = "", sync_timeout: str = "5s") -> str:
    """Service `hello` answering which version ran; `nap` makes it sleep first."""
    sleep = f"      - sleep: {nap}\n" if nap else ""
    return f"""
name: hello
version: {version}
service:
  path: hello
  profiles:
    Out: {{type: object, properties: {{version: {{type: string}}}}}}
  actions:
    - {{name: hello, process: hello, response: Out, sync_timeout: {sync_timeout}}}
processes:
  hello:
    steps:
{sleep}      - map: '{{version: "{version}"}}'
      - return: {{}}
"""


def version_of(body: dict[str, Any]) -> str:
    outputs = {o["developerName"]: o["contentValue"] for o in body["outputs"]}
    return str(outputs["version"])


async def deploy(
    cluster: InProcessCluster, source: str, expect: int = 200, **params: Any
) -> dict[str, Any]:
    response = await cluster.api.post(
        "/api/deployments",
        content=source.encode(),
        headers={"content-type": "application/yaml"},
        params={"runtime": "default", **params},
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def traffic(cluster: InProcessCluster) -> dict[str, dict[str, Any]]:
    status = (await cluster.api.get("/api/status")).json()
    (runtime,) = [r for r in status["runtimes"] if r["name"] == "default"]
    (service,) = runtime["services"]
    return {v["version"]: v for v in service["versions"]}


async def hosted(cluster: InProcessCluster) -> set[str]:
    (executor,) = (await cluster.api.get("/api/executors")).json()
    return set(executor["deployments"])


async def test_a_canary_takes_its_share_is_counted_per_version_and_is_promoted(
    tmp_path: Path,
) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        await cluster.deploy(package("1.0.0"))
        answer = await deploy(cluster, package("2.0.0"), canary=10)
        assert [(r["runtime"], r["result"]) for r in answer["results"]] == [("default", "canary")]
        assert answer["results"][0]["executors"]  # hosted before the answer
        assert await hosted(cluster) == {"hello@1.0.0", "hello@2.0.0"}

        async with cluster.flow(await cluster.user()) as flow:
            answered: Counter[str] = Counter()
            for _ in range(200):
                answered[
                    version_of((await flow.post("/fs/hello/actions/hello", json={})).json())
                ] += 1
            # Metadata is the active version's, and is not an execution: no canary share.
            assert (await flow.get("/fs/hello/metadata")).status_code == 200
        assert answered == {"1.0.0": 180, "2.0.0": 20}

        versions = await traffic(cluster)
        assert versions["1.0.0"]["role"] == "active" and versions["1.0.0"]["percent"] == 90
        assert versions["2.0.0"]["role"] == "canary" and versions["2.0.0"]["percent"] == 10
        assert (versions["1.0.0"]["requests"], versions["1.0.0"]["errors"]) == (181, 0)
        assert (versions["2.0.0"]["requests"], versions["2.0.0"]["errors"]) == (20, 0)
        samples = await _scrape(cluster.api)
        labels = {"runtime": "default", "service": "hello", "kind": "action", "status": "200"}
        canary = {**labels, "version": "2.0.0", "operation": "hello"}
        assert _value(samples, "flowhost_flow_requests_total", **canary) == 20

        async with browser(cluster) as console:
            await signed_in(console)
            page = (await console.get("/console/services")).text
        row = re.search(r'<tr data-version="2\.0\.0">.*?</tr>', page, re.S)
        assert row is not None, page
        assert "canary 10%" in row.group(0)
        assert '<td class="num requests">20</td>' in row.group(0)

        listed = (await cluster.api.get("/api/runtimes/default/packages")).json()
        assert [(v["version"], v["active"], v["canary_percent"]) for v in listed] == [
            ("1.0.0", True, None),
            ("2.0.0", False, 10),
        ]

        # One canary at a time: another version is refused naming the one in progress, and so
        # is a rollback; the same version again only changes its share.
        refused = await deploy(cluster, package("3.0.0"), canary=10)
        assert refused["failed"] == 1
        assert refused["results"][0]["code"] == "canary_exists"
        assert "2.0.0" in refused["results"][0]["reason"]
        single = await cluster.api.post(
            "/api/runtimes/default/packages",
            content=package("3.0.0").encode(),
            headers={"content-type": "application/yaml"},
        )
        assert single.status_code == 409 and single.json()["error"] == "canary_exists"
        rollback = await cluster.api.post(
            "/api/runtimes/default/packages/hello/rollback", params={"version": "2.0.0"}
        )
        assert rollback.status_code == 409 and rollback.json()["error"] == "canary_exists"
        again = await deploy(cluster, package("2.0.0"), canary=50)
        assert again["results"][0]["result"] == "canary again"
        assert (await traffic(cluster))["2.0.0"]["percent"] == 50

        promoted = await cluster.api.post("/api/runtimes/default/packages/hello/promote")
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["active_version"] == "2.0.0"
        async with cluster.flow(await cluster.user("flow2")) as flow:
            after = {
                version_of((await flow.post("/fs/hello/actions/hello", json={})).json())
                for _ in range(10)
            }
        assert after == {"2.0.0"}
        assert await hosted(cluster) == {"hello@2.0.0"}
        none_left = await cluster.api.post("/api/runtimes/default/packages/hello/abort")
        assert none_left.status_code == 404 and none_left.json()["error"] == "no_canary"
        # A canary needs an active version of the same service beside it.
        await cluster.api.delete("/api/runtimes/default/packages/hello")
        lonely = await deploy(cluster, package("4.0.0"), canary=10)
        assert lonely["results"][0]["code"] == "nothing_to_canary"
        bad = await deploy(cluster, package("4.0.0"), expect=422, canary=100)
        assert "canary" in bad["message"]


async def test_a_wait_started_on_an_aborted_canary_is_called_back_with_the_canarys_answer(
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        await cluster.deploy(package("1.0.0"))
        await deploy(cluster, package("2.0.0", nap="1500ms", sync_timeout="200ms"), canary=50)
        async with cluster.flow(await cluster.user()) as flow:
            first = await flow.post("/fs/hello/actions/hello", json={})  # the active's share
            assert version_of(first.json()) == "1.0.0"
            waiting = await flow.post(
                "/fs/hello/actions/hello", json={"callbackUri": receiver.url, "token": "t-1"}
            )
        assert waiting.json()["invokeType"] == "WAIT", waiting.text

        aborted = await cluster.api.post("/api/runtimes/default/packages/hello/abort")
        assert aborted.json() == {
            "name": "hello",
            "runtime": "default",
            "version": "2.0.0",
            "active_version": "1.0.0",
        }
        # No new execution goes to it, but its executor keeps hosting it for the owed WAIT.
        assert await hosted(cluster) == {"hello@1.0.0", "hello@2.0.0"}
        assert (await traffic(cluster))["2.0.0"]["role"] == "kept"
        async with cluster.flow(await cluster.user("flow2")) as flow:
            for _ in range(4):
                answer = await flow.post("/fs/hello/actions/hello", json={})
                assert version_of(answer.json()) == "1.0.0"

        deadline = time.monotonic() + 10
        while not receiver.bodies:
            assert time.monotonic() < deadline, "no callback within 10 s"
            await asyncio.sleep(0.05)
        (callback,) = receiver.bodies
        assert callback["invokeType"] == "FORWARD" and callback["token"] == "t-1"
        assert version_of(callback) == "2.0.0"  # the version it started on answered

        # Owed nothing any more, the aborted version leaves the executor.
        while await hosted(cluster) != {"hello@1.0.0"}:
            assert time.monotonic() < deadline, "the aborted canary stayed hosted"
            await asyncio.sleep(0.05)
        # The history names the version it ran on (summaries are written in batches).
        path = f"/api/executions/{waiting.headers['x-flowhost-execution-id']}"
        while (found := await cluster.api.get(path)).status_code == 404:
            assert time.monotonic() < deadline, "the execution never reached the history"
            await asyncio.sleep(0.1)
        assert found.json()["version"] == "2.0.0"
