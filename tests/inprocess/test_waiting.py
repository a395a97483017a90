"""The executor client's three ways out of an execution: detached at the sync timeout (WAIT, then
a callback), cancelled when the caller stops waiting, and a stream broken under it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess.conftest import in_process_cluster

NAP = """
name: nap
version: 1.0.0
service:
  path: nap
  profiles:
    Done: {type: object, properties: {done: {type: string}}}
  actions:
    - {name: nap, process: nap, response: Done, sync_timeout: 300ms, wait_message: napping}
processes:
  nap:
    steps:
      - sleep: 1s
      - log: {message: '"woke up"'}
      - map: '{done: "yes"}'
      - return: {}
"""


class Receiver:
    """A real HTTP server on port 0 standing in for Flow's callback endpoint."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


async def test_past_its_sync_timeout_an_action_is_answered_wait_then_called_back(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        await cluster.deploy(NAP)
        async with cluster.flow(await cluster.user()) as flow:
            started = time.monotonic()
            response = await flow.post(
                "/fs/nap/actions/nap",
                json={"callbackUri": receiver.url, "token": "flow-token", "stateId": "s1"},
            )
            answered_s = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["invokeType"] == "WAIT"
        assert response.json()["waitMessage"] == "napping"
        assert answered_s < 0.9, "WAIT must come at the sync timeout, not at the end"
        deadline = time.monotonic() + 10
        while not receiver.bodies:
            assert time.monotonic() < deadline, "no callback within 10 s"
            await asyncio.sleep(0.05)
        callback = receiver.bodies[0]
        assert callback["invokeType"] == "FORWARD"
        assert callback["token"] == "flow-token"
        outputs = {o["developerName"]: o["contentValue"] for o in callback["outputs"]}
        assert outputs == {"done": "yes"}


async def test_a_request_the_gateway_stops_waiting_for_is_cancelled_on_the_executor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flowhost.process")
    async with in_process_cluster(tmp_path, default_timeout_s=0.3) as cluster:
        await cluster.deploy(NAP)
        async with cluster.flow(await cluster.user()) as flow:
            response = await flow.post("/fs/nap/actions/nap", json={})  # no callbackUri: sync
        assert response.status_code == 504, response.text
        assert response.json()["code"] == "deadline_exceeded"
        await asyncio.sleep(1.2)  # past the nap: a process still running would log now
    assert "woke up" not in caplog.text


async def test_an_executor_stopping_under_a_request_fails_it_clearly(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path) as cluster:
        await cluster.deploy(NAP)
        async with cluster.flow(await cluster.user()) as flow:
            call = asyncio.create_task(flow.post("/fs/nap/actions/nap", json={}))
            await asyncio.sleep(0.3)
            await cluster.executors[0].shutdown()
            response = await asyncio.wait_for(call, 5)
        assert response.status_code == 503, response.text
        assert response.headers["x-manywho-service-problem-kind"] == "service"
