"""End to end: a Flow action whose process `request`s over the real NATS on 127.0.0.1 (a
responder this test runs) and answers with the reply; a request past the action's sync timeout
turns into WAIT and the callback carries the reply; no reply in time is a ServiceProblem naming
the step; the broker URL is the operator's secret configuration value."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster
from tests.e2e.test_callbacks import Receiver
from tests.executors.runtime.brokers_util import NATS_URL, listening

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not listening(4222), reason="no NATS server on 127.0.0.1:4222"),
]

PACKAGE = Path(__file__).parent / "packages" / "brokers.yaml"


class Responder:
    """The other side of the subjects: answers orders, answers slowly, never answers, records."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: Any = self._run(self._start())

    def _run(self, work: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work, self._loop)
        return future.result(timeout=10)

    async def _start(self) -> Any:
        client = await nats.connect(NATS_URL)
        base = f"orders.{self.prefix}"

        async def order(msg: Any) -> None:
            asked = json.loads(msg.data)
            await client.publish(
                msg.reply, json.dumps({"state": f"open {asked['orderId']}"}).encode()
            )

        async def slow(msg: Any) -> None:
            await asyncio.sleep(1.0)
            await order(msg)

        async def silent(_msg: Any) -> None:
            """Takes the request, never answers."""

        async def seen(msg: Any) -> None:
            self.seen.append((msg.subject, dict(msg.headers or {})))

        await client.subscribe(f"{base}.get-order.v1", cb=order)
        await client.subscribe(f"{base}.slow-order.v1", cb=slow)
        await client.subscribe(f"{base}.silent.v1", cb=silent)
        await client.subscribe(f"{base}.seen.*", cb=seen)
        await client.flush()
        return client

    def close(self) -> None:
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@pytest.fixture(scope="module")
def responder() -> Iterator[Responder]:
    running = Responder(f"e2e{uuid.uuid4().hex[:10]}")
    yield running
    running.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOWHOST_CALLBACK_POLL_INTERVAL_S", "0.1")
        env.setenv("FLOWHOST_CALLBACK_HOSTS", '{"default": ["127.0.0.1"]}')
        with running_cluster(tmp_path_factory.mktemp("brokers"), executors=1) as running:
            yield running


@pytest.fixture(scope="module")
def fs(cluster: Cluster, responder: Responder) -> Iterator[httpx.Client]:
    def ok(*args: str) -> None:
        done = flowhost(cluster, *args)
        assert done.returncode == 0, done.stdout + done.stderr

    ok("deploy", str(PACKAGE))
    ok("policy", "set", "-r", "default", "--allow-loopback")  # NATS is on 127.0.0.1
    ok("config", "set", "bus", NATS_URL, "--runtime", "default", "--secret")
    ok("config", "set", "prefix", responder.prefix, "--runtime", "default")
    added = flowhost(cluster, "users", "add", "dana", "--runtime", "default")
    token = added.stdout.split("token:")[1].strip()
    with httpx.Client(
        base_url=f"{cluster.url}/fs/brokers", auth=("dana", token), timeout=30
    ) as client:
        yield client


def _ask(fs: httpx.Client, action: str, order: str, **extra: Any) -> httpx.Response:
    inputs = [{"developerName": "orderId", "contentType": "ContentString", "contentValue": order}]
    return fs.post(f"/actions/{action}", json={"inputs": inputs, **extra})


def _outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {o["developerName"]: o["contentValue"] for o in body["outputs"]}


def test_the_reply_is_the_answer(fs: httpx.Client) -> None:
    response = _ask(fs, "get-order", "42")
    assert response.status_code == 200, response.text
    assert response.json()["invokeType"] == "FORWARD"
    assert _outputs(response.json()) == {"state": "open 42"}


def test_a_request_past_the_sync_timeout_waits_and_calls_back_the_reply(
    fs: httpx.Client, receiver: Receiver
) -> None:
    started = time.monotonic()
    response = _ask(fs, "slow-order", "7", token="tok-bus", tenantId="t", callbackUri=receiver.url)
    assert response.status_code == 200, response.text
    assert response.json()["invokeType"] == "WAIT"
    assert time.monotonic() - started < 1.0  # answered at the sync timeout, not at the reply

    def called_back() -> dict[str, Any]:
        calls = receiver.of("tok-bus")
        assert calls, "no callback yet"
        return calls[-1]["body"]

    body = assert_eventually(called_back, timeout_s=10)
    assert body["invokeType"] == "FORWARD"
    assert _outputs(body) == {"state": "open 7"}


def test_no_reply_in_time_names_the_step(fs: httpx.Client) -> None:
    response = _ask(fs, "silent-order", "1")
    assert response.status_code >= 500, response.text
    problem = response.json()
    text = json.dumps(problem)
    assert "processes.silent-order.steps[0]" in text, text
    assert "no reply from orders." in text and "within 0.3s" in text
    assert NATS_URL not in text  # the broker URL is a secret: never shown


def test_publish_and_a_hostile_destination_part(fs: httpx.Client, responder: Responder) -> None:
    assert _ask(fs, "order-by-id", "o-9").status_code == 200
    assert_eventually(lambda: _has(responder.seen, f"orders.{responder.prefix}.seen.o-9"))
    subject, headers = responder.seen[-1]
    assert subject == f"orders.{responder.prefix}.seen.o-9"
    assert headers["Nats-Msg-Id"] == "o-9"

    refused = _ask(fs, "order-by-id", "o-9.>")
    assert refused.status_code == 400, refused.text
    assert "destination part '.orderId' gave 'o-9.>'" in refused.text


def _has(seen: list[tuple[str, dict[str, str]]], subject: str) -> None:
    assert subject in [s for s, _ in seen], seen


def test_a_caller_can_choose_neither_the_broker_nor_the_prefix(fs: httpx.Client) -> None:
    for name, value in (("bus", "nats://attacker.example:4222"), ("prefix", "other-team")):
        configuration = [{"developerName": name, "contentValue": value}]
        refused = _ask(fs, "get-order", "42", configurationValues=configuration)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "operator_configuration"
        assert f"'{name}'" in refused.json()["message"]
