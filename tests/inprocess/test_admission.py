"""Fair admission through the real gateway: runtime A flooded past its limits gets 429 and 503
with Retry-After while runtime B, on the same gateway, answers every request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from executors.server import ExecutorServer
from flowhost.client import CLIENT_HEADERS
from gateway.app import create_app
from tests.inprocess.conftest import (
    ADMIN,
    ROOT,
    InProcessCluster,
    executor_settings,
    gateway_settings,
    in_process_cluster,
)
from tests.inprocess.test_waiting import Receiver

SLOW = """
name: slow
version: 1.0.0
service:
  path: slow
  profiles:
    Nothing: {type: object, properties: {sku: {type: string}}}
  actions:
    - {name: wait, process: wait, request: Nothing, response: Nothing}
processes:
  wait:
    steps:
      - sleep: 1500ms
      - return: {}
"""
QUOTE = {
    "inputs": [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
    ]
}


@pytest.fixture
async def two_runtimes(tmp_path: Path) -> AsyncIterator[InProcessCluster]:
    """Runtime A (a slow action) limited to 3 at once, 2 per user, no queue; runtime B (the
    bench's quote action) on the defaults; one executor each, one gateway."""
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(ExecutorServer(executor_settings(runtime=runtime)))
            for runtime in ("A", "B")
        ]
        app = create_app(
            gateway_settings(
                tmp_path,
                servers,
                admission_runtimes={"A": {"runtime": 3, "user": 2}},
                admission_queue_factor=0,
                admission_wait_s=2,
            )
        )
        await stack.enter_async_context(app.api.router.lifespan_context(app.api))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                auth=ADMIN,
                headers=CLIENT_HEADERS,
            )
        )
        cluster = InProcessCluster(app, servers, api)
        for runtime in ("A", "B"):
            assert (await api.post(f"/api/runtimes/{runtime}")).status_code == 201
        await cluster.until_ready(2)
        await cluster.deploy(SLOW, runtime="A")
        await cluster.deploy((ROOT / "flowhost" / "bench" / "package.yaml").read_text(), "B")
        yield cluster


async def test_a_flooded_runtime_is_refused_while_the_other_is_served(
    two_runtimes: InProcessCluster,
) -> None:
    cluster = two_runtimes
    async with (
        cluster.flow(await cluster.user("a1", "A")) as a1,
        cluster.flow(await cluster.user("a2", "A")) as a2,
        cluster.flow(await cluster.user("b", "B")) as b,
    ):
        # a1 asks for 4 at once (its limit is 2); then a2 for 2 more (the runtime has 1 left).
        first = asyncio.gather(*(a1.post("/fs/slow/actions/wait", json={}) for _ in range(4)))
        await asyncio.sleep(0.1)
        second = asyncio.gather(*(a2.post("/fs/slow/actions/wait", json={}) for _ in range(2)))
        await asyncio.sleep(0.1)  # the flood is in, holding A's slots for 1.5 s
        flooded = asyncio.gather(first, second)
        quotes = await asyncio.gather(
            *(b.post("/fs/bench/actions/quote", json=QUOTE) for _ in range(8))
        )
        assert not flooded.done()  # B was answered while A was still flooded
        answers = [answer for group in await flooded for answer in group]
    assert [q.status_code for q in quotes] == [200] * 8, quotes[0].text
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 429, 429, 503]
    for refused in (r for r in answers if r.status_code != 200):
        assert refused.headers["retry-after"] == "2"
        assert refused.headers["x-manywho-service-problem-kind"] == "service"
        problem = refused.json()
        assert problem["statusCode"] == refused.status_code
        if refused.status_code == 429:
            assert problem["code"] == "too_many_requests"
            assert problem["details"]["setting"] == "FLOWHOST_ADMISSION_USER_CONCURRENCY"
        else:
            assert problem["code"] == "runtime_busy"
            assert "runtime 'A' may run 3 Flow requests at once" in problem["message"]
    metrics = (await cluster.api.get("/metrics")).text
    assert 'flowhost_admission_refused_total{limit="user",runtime="A"} 2.0' in metrics
    assert 'flowhost_admission_refused_total{limit="runtime",runtime="A"} 1.0' in metrics
    assert 'flowhost_admission_in_flight{runtime="A"} 0.0' in metrics  # every slot came back
    assert 'flowhost_admission_refused_total{limit="runtime",runtime="B"}' not in metrics
    runtimes = {r["name"]: r for r in (await cluster.api.get("/api/runtimes")).json()}
    assert runtimes["A"]["admission"] == {  # what `flowhost status` shows
        "in_flight": 0,
        "queued": 0,
        "detached": 0,
        "refused": {"user": 2, "runtime": 1},
    }
    assert runtimes["B"]["admission"]["refused"] == {}


NAP = """
name: nap
version: 1.0.0
service:
  path: nap
  profiles:
    Done: {type: object, properties: {done: {type: string}}}
  actions:
    - {name: nap, process: nap, response: Done, sync_timeout: 100ms, wait_message: napping}
processes:
  nap:
    steps:
      - sleep: 2s
      - map: '{done: "yes"}'
      - return: {}
"""


@pytest.fixture
def callbacks() -> Iterator[Receiver]:
    """Flow's callback endpoint, a real HTTP server (test_waiting.py's)."""
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _gauge(metrics: str, name: str) -> float:
    line = next(ln for ln in metrics.splitlines() if ln.startswith(f'{name}{{runtime="default"}}'))
    return float(line.rsplit(" ", 1)[1])


async def test_an_execution_past_wait_frees_its_request_slot_and_counts_as_detached(
    tmp_path: Path, callbacks: Receiver
) -> None:
    """A runtime allowed 1 request at once and 1 detached execution: after the WAIT answer the
    next plain request gets in, a second detachable one is refused until the first one ends."""
    limits = {"default": {"runtime": 1, "detached": 1}}
    async with in_process_cluster(
        tmp_path, admission_runtimes=limits, admission_queue_factor=0
    ) as cluster:
        await cluster.deploy(NAP)
        await cluster.deploy((ROOT / "flowhost" / "bench" / "package.yaml").read_text())
        async with cluster.flow(await cluster.user()) as flow:
            body = {"callbackUri": callbacks.url, "token": "t"}
            first = await flow.post("/fs/nap/actions/nap", json=body)
            assert first.json()["invokeType"] == "WAIT"
            metrics = (await cluster.api.get("/metrics")).text
            assert _gauge(metrics, "flowhost_admission_in_flight") == 0
            assert _gauge(metrics, "flowhost_admission_detached") == 1
            quote = await flow.post("/fs/bench/actions/quote", json=QUOTE)
            assert quote.status_code == 200  # the request slot came back at WAIT
            second = await flow.post("/fs/nap/actions/nap", json=body)
            assert second.status_code == 503
            assert second.json()["details"]["setting"] == "FLOWHOST_ADMISSION_DETACHED"
            deadline = asyncio.get_running_loop().time() + 10
            while _gauge((await cluster.api.get("/metrics")).text, "flowhost_admission_detached"):
                assert asyncio.get_running_loop().time() < deadline, "detached never ended"
                await asyncio.sleep(0.05)
            again = await flow.post("/fs/nap/actions/nap", json=body)
            assert again.json()["invokeType"] == "WAIT"


async def test_a_download_link_counts_against_its_runtime(tmp_path: Path) -> None:
    """A download runs an execution too: while the runtime's one slot is taken it is refused."""
    files = tmp_path / "files"
    async with in_process_cluster(
        tmp_path / "data",
        executor_overrides={"files_dir": str(files)},
        admission_runtimes={"default": {"runtime": 1}},
        admission_queue_factor=0,
    ) as cluster:
        await cluster.deploy((ROOT / "flowhost" / "examples" / "countries.yaml").read_text())
        await cluster.deploy(SLOW)
        (files / "default" / "invoices").mkdir(parents=True)
        (files / "default" / "invoices" / "a.txt").write_bytes(b"hello")
        async with cluster.flow(await cluster.user()) as flow:
            listed = await flow.post("/fs/countries/file", json={"resourcePath": "/invoices"})
            assert listed.status_code == 200, listed.text
            props = listed.json()["objectData"][0]["properties"]
            link = next(p["contentValue"] for p in props if p["developerName"] == "Download Uri")
            path = link.removeprefix("http://gateway")
            slow = asyncio.ensure_future(flow.post("/fs/slow/actions/wait", json={}))
            await asyncio.sleep(0.2)  # it holds the runtime's one slot for 1.5 s
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=cluster.app), base_url="http://x"
            ) as browser:
                busy = await browser.get(path)
                assert busy.status_code == 503, busy.text
                assert busy.json()["code"] == "runtime_busy"
                assert (await slow).status_code == 200
                served = await browser.get(path)
    assert served.content == b"hello"
