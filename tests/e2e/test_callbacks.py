"""End to end: WAIT at the sync timeout, callbacks to a real receiver on 127.0.0.1, retries,
dead letters, a gateway restart mid-wait, and the execution history."""

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

from flowhost.client import ApiError
from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "packages" / "waits.yaml"
FLOW_USER = "ManyWhoTenantId=ten-1&ManyWhoUserId=u-1&Email=ann%40example.com"


class Receiver:
    """Flow's callback endpoint: records every POST and answers as scripted per token."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[int, bytes]]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver.lock:
                    receiver.calls.append(
                        {"body": body, "headers": dict(self.headers), "at": time.monotonic()}
                    )
                    planned = receiver.script.get(body.get("token"), [])
                    status, answer = planned.pop(0) if planned else (200, b'"SUCCESS"')
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/run/1/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, token: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["body"].get("token") == token]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOWHOST_CALLBACK_ATTEMPTS", "3")
        env.setenv("FLOWHOST_CALLBACK_BACKOFF_S", "0.1")
        env.setenv("FLOWHOST_CALLBACK_BACKOFF_MAX_S", "0.3")
        env.setenv("FLOWHOST_CALLBACK_POLL_INTERVAL_S", "0.1")
        env.setenv("FLOWHOST_CALLBACK_TIMEOUT_S", "2")
        env.setenv("FLOWHOST_HISTORY_FLUSH_INTERVAL_S", "0.1")
        env.setenv("FLOWHOST_CALLBACK_HOSTS", '{"default": ["127.0.0.1"]}')
        with running_cluster(tmp_path_factory.mktemp("callbacks"), executors=1) as running:
            yield running


@pytest.fixture(scope="module")
def fs(cluster: Cluster) -> Iterator[httpx.Client]:
    assert flowhost(cluster, "deploy", str(PACKAGE)).returncode == 0
    added = flowhost(cluster, "users", "add", "carol", "--runtime", "default")
    token = added.stdout.split("token:")[1].strip()
    with httpx.Client(
        base_url=f"{cluster.url}/fs/waits", auth=("carol", token), timeout=30
    ) as client:
        yield client


def _ask(
    fs: httpx.Client, action: str, token: str, callback: str, **headers: str
) -> httpx.Response:
    return fs.post(
        f"/actions/{action}",
        json={
            "token": token,
            "tenantId": "ten-1",
            "callbackUri": callback,
            "inputs": [
                {"developerName": "name", "contentType": "ContentString", "contentValue": "ann"}
            ],
        },
        headers=headers,
    )


def test_wait_then_the_result_is_called_back(fs: httpx.Client, receiver: Receiver) -> None:
    started = time.monotonic()
    response = _ask(fs, "slow", "tok-slow", receiver.url, **{"X-ManyWho-Authorization": FLOW_USER})
    waited = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invokeType"] == "WAIT"
    assert (body["token"], body["tenantId"]) == ("tok-slow", "ten-1")
    assert body["waitMessage"] == "Working on it"
    # The sync timeout plus a margin for a loaded CI machine; the process itself runs longer.
    assert 0.5 <= waited < 1.2, waited
    assert receiver.of("tok-slow") == []  # the process is still running

    calls = assert_eventually(lambda: _calls(receiver, "tok-slow", 1), timeout_s=10)
    call = calls[0]
    assert call["at"] - started >= 1.0  # after the process ended
    assert call["body"]["invokeType"] == "FORWARD"
    outputs = {o["developerName"]: o["contentValue"] for o in call["body"]["outputs"]}
    assert outputs == {"greeting": "hello ann"}
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["manywhotenant"] == "ten-1"
    assert headers["authorization"] == FLOW_USER
    time.sleep(0.5)
    assert len(receiver.of("tok-slow")) == 1  # exactly once

    execution = response.headers["x-flowhost-execution-id"]
    shown = assert_eventually(lambda: _shown(fs, execution), timeout_s=5)
    assert "ok (WAIT)" in shown
    assert "hello ann" in shown  # mode general: step documents recorded


def test_a_quick_process_answers_forward(fs: httpx.Client, receiver: Receiver) -> None:
    body = _ask(fs, "quick", "tok-quick", receiver.url).json()
    assert body["invokeType"] == "FORWARD"
    assert body["outputs"][0]["contentValue"] == "hey ann"
    time.sleep(0.3)
    assert receiver.of("tok-quick") == []


def test_a_failure_is_called_back_as_a_fault(fs: httpx.Client, receiver: Receiver) -> None:
    assert _ask(fs, "slowfail", "tok-fail", receiver.url).json()["invokeType"] == "WAIT"
    call = assert_eventually(lambda: _calls(receiver, "tok-fail", 1), timeout_s=10)[0]
    faults = call["body"]["rootFaults"]
    assert "cannot greet ann" in json.dumps(faults)
    assert "processes.slowfail.steps[1]" in json.dumps(faults)


def test_busy_and_errors_are_retried(fs: httpx.Client, receiver: Receiver) -> None:
    receiver.script["tok-busy"] = [(200, b'"BUSY"'), (503, b"down")]
    assert _ask(fs, "slow", "tok-busy", receiver.url).json()["invokeType"] == "WAIT"
    calls = assert_eventually(lambda: _calls(receiver, "tok-busy", 3), timeout_s=10)
    assert all(c["body"]["invokeType"] == "FORWARD" for c in calls)
    time.sleep(0.5)
    assert len(receiver.of("tok-busy")) == 3  # SUCCESS ends it


def test_dead_letter_and_redelivery(cluster: Cluster, fs: httpx.Client, receiver: Receiver) -> None:
    receiver.script["tok-dead"] = [(500, b"no")] * 3
    response = _ask(fs, "slow", "tok-dead", receiver.url)
    execution = response.headers["x-flowhost-execution-id"]
    assert_eventually(lambda: _calls(receiver, "tok-dead", 3), timeout_s=10)

    def dead() -> str:
        listed = flowhost(cluster, "callbacks", "--state", "dead")
        assert execution in listed.stdout, listed.stdout + listed.stderr
        return listed.stdout

    assert "500: no" in assert_eventually(dead, timeout_s=5)
    again = flowhost(cluster, "callbacks", "redeliver", execution)
    assert again.returncode == 0, again.stderr
    assert_eventually(lambda: _calls(receiver, "tok-dead", 4), timeout_s=10)


def test_progress_messages_reach_flow(fs: httpx.Client, receiver: Receiver) -> None:
    body = _ask(fs, "progress", "tok-progress", receiver.url).json()
    assert body["invokeType"] == "WAIT"
    assert body["waitMessage"] == "starting on ann"  # the latest message at the sync timeout
    calls = assert_eventually(lambda: _final(receiver, "tok-progress"), timeout_s=10)
    interim = [c["body"] for c in calls if c["body"]["invokeType"] == "WAIT"]
    assert [b["waitMessage"] for b in interim] == ["half way"]
    assert calls[-1]["body"]["invokeType"] == "FORWARD"


def test_bad_callback_uris_are_refused(fs: httpx.Client) -> None:
    scheme = _ask(fs, "slow", "tok-bad", "ftp://127.0.0.1/x")
    assert scheme.status_code == 400 and "must be an http or https URL" in scheme.json()["message"]
    host = _ask(fs, "slow", "tok-bad", "https://evil.example.com/api/run/1/response")
    assert host.status_code == 403
    assert "not allowed for runtime 'default'" in host.json()["message"]


def test_gateway_restart_mid_wait_still_delivers(
    cluster: Cluster, fs: httpx.Client, receiver: Receiver
) -> None:
    assert _ask(fs, "long", "tok-restart", receiver.url).json()["invokeType"] == "WAIT"
    gateway = cluster.children[-1]
    assert gateway.process is not None
    gateway.process.send_signal(signal.SIGKILL)
    gateway.process.wait()
    gateway.start()
    cluster.wait_ready(timeout_s=30)
    call = assert_eventually(lambda: _calls(receiver, "tok-restart", 1), timeout_s=15)[0]
    assert call["body"]["outputs"][0]["contentValue"] == "finally ann"
    time.sleep(0.5)
    assert len(receiver.of("tok-restart")) == 1


def test_executions_are_listed_and_filtered(cluster: Cluster, fs: httpx.Client) -> None:
    _ask(fs, "quick", "tok-list", "")

    def listed() -> str:
        result = flowhost(cluster, "executions", "--process", "quick", "--since", "10m")
        assert result.returncode == 0, result.stderr
        assert "quick" in result.stdout
        return result.stdout

    assert_eventually(listed, timeout_s=5)
    failed = flowhost(cluster, "executions", "--status", "failed")
    assert "slowfail" in failed.stdout and " ok " not in failed.stdout


def test_recording_is_paused_and_resumed_on_a_running_gateway(
    cluster: Cluster, fs: httpx.Client
) -> None:
    def shown(execution: str) -> str:
        return flowhost(cluster, "executions", "show", execution).stdout

    paused = flowhost(cluster, "executions", "recording", "off")
    assert paused.returncode == 0 and "paused" in paused.stdout, paused.stderr
    try:
        unrecorded = _ask(fs, "quick", "tok-paused", "").headers["x-flowhost-execution-id"]
        assert "paused" in flowhost(cluster, "executions", "recording").stdout
    finally:
        resumed = flowhost(cluster, "executions", "recording", "on")
    assert resumed.returncode == 0 and "recording" in resumed.stdout, resumed.stderr
    recorded = _ask(fs, "quick", "tok-resumed", "").headers["x-flowhost-execution-id"]
    assert recorded in assert_eventually(lambda: _in(recorded, shown(recorded)), timeout_s=5)
    missing = flowhost(cluster, "executions", "show", unrecorded)
    assert missing.returncode != 0 and "no execution" in missing.stderr
    wrong = flowhost(cluster, "executions", "recording", "maybe")
    assert wrong.returncode == 2, wrong.stderr
    assert "'maybe' is not one of 'on', 'off'" in wrong.stderr
    with cluster.client() as client:
        with pytest.raises(ApiError) as refused:
            client.request("PUT", "/api/history", json={"enabled": "maybe"})
        assert refused.value.status == 422 and "enabled" in str(refused.value.message)
        assert client.recording() == {"enabled": True}


def _in(part: str, text: str) -> str:
    assert part in text, text
    return text


def _calls(receiver: Receiver, token: str, count: int) -> list[dict[str, Any]]:
    calls = receiver.of(token)
    assert len(calls) >= count, calls
    return calls


def _final(receiver: Receiver, token: str) -> list[dict[str, Any]]:
    calls = receiver.of(token)
    assert calls and calls[-1]["body"]["invokeType"] == "FORWARD", calls
    return calls


def _shown(fs: httpx.Client, execution: str) -> str:
    result = flowhost_cluster_show(fs, execution)
    assert result.returncode == 0, result.stderr
    return result.stdout


def flowhost_cluster_show(fs: httpx.Client, execution: str) -> Any:
    cluster = _CLUSTER[0]
    return flowhost(cluster, "executions", "show", execution)


_CLUSTER: list[Cluster] = []


@pytest.fixture(autouse=True)
def _remember(cluster: Cluster) -> None:
    _CLUSTER[:] = [cluster]
