"""End to end: the executor holding a WAIT is killed -9 and never comes back; Flow still gets an
answer, an `executor_lost` fault callback, once the execution's deadline and a grace are past."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.callbacks.waiting import EXECUTOR_LOST_GRACE_S
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "packages" / "lost.yaml"
DEADLINE_S = 3.0  # the process's `timeout` in lost.yaml


@pytest.fixture
def callbacks() -> Iterator[tuple[str, list[tuple[float, dict[str, Any]]]]]:
    """Flow's callback endpoint on 127.0.0.1: (when, body) of every POST."""
    received: list[tuple[float, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            received.append((time.monotonic(), body))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "9")
            self.end_headers()
            self.wfile.write(b'"SUCCESS"')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/run/1/response", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_wait_whose_executor_never_returns_gets_an_executor_lost_fault(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    callbacks: tuple[str, list[tuple[float, dict[str, Any]]]],
) -> None:
    uri, received = callbacks
    monkeypatch.setenv("FLOWHOST_CALLBACK_POLL_INTERVAL_S", "0.2")
    monkeypatch.setenv("FLOWHOST_CALLBACK_HOSTS", '{"default": ["127.0.0.1"]}')
    with running_cluster(tmp_path, executors=1) as cluster:
        assert flowhost(cluster, "deploy", str(PACKAGE)).returncode == 0
        token = flowhost(cluster, "users", "add", "carol").stdout.split("token:")[1].strip()
        with httpx.Client(base_url=f"{cluster.url}/fs/lost", auth=("carol", token)) as fs:
            started = time.monotonic()
            answer = fs.post(
                "/actions/slow",
                json={
                    "token": "tok-lost",
                    "callbackUri": uri,
                    "inputs": [
                        {
                            "developerName": "name",
                            "contentType": "ContentString",
                            "contentValue": "ann",
                        }
                    ],
                },
                timeout=10,
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["invokeType"] == "WAIT"
        victim = cluster.children[0]
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)  # mid-sleep: it never finishes, never returns
        victim.process.wait()

        def called_back() -> tuple[float, dict[str, Any]]:
            assert len(received) == 1, received
            return received[0]

        at, body = assert_eventually(called_back, timeout_s=DEADLINE_S + EXECUTOR_LOST_GRACE_S + 10)
    assert at - started >= DEADLINE_S  # not before the execution could still have finished
    assert body["token"] == "tok-lost"
    assert body["invokeType"] == "FORWARD"
    assert list(body["rootFaults"]) == ["executor_lost"]
    assert "may or may not have completed" in body["rootFaults"]["executor_lost"]
