"""A stand-in for Flow's run API (no Flow tenant is reachable from tests): a real HTTP server on
127.0.0.1, port 0, in a thread, answering from the documented shapes in tests/flow_run_samples.

It knows a few flows (`StandinFlow`): each passes through its map elements (`waits`, each
held for `joins` GETs of the state) and ends DONE with outputs made from its inputs. It checks
what Flow checks: the tenant header, the credentials (a token sent as `Authorization`, got from
`POST /api/draw/1/authentication`), the flow id and version, and the state token of an invoke.
Every request is recorded (`requests`) so tests can look at what the step sent.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "flow_run_samples"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


@dataclass
class StandinFlow:
    flow_id: str
    version_id: str
    #: Map elements the state waits at, in order, each for `joins` GETs of the state.
    waits: tuple[str, ...] = ()
    joins: int = 1
    #: The outputs (EngineValues) from the inputs ({developerName: contentValue}).
    outputs: Callable[[dict[str, str]], list[dict[str, Any]]] = lambda inputs: []


@dataclass
class _State:
    flow: StandinFlow
    inputs: dict[str, str]
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: int = -1  # index into flow.waits; -1 before the first invoke
    joined: int = 0
    done: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FlowStandin:
    def __init__(self, tenant: str, flows: list[StandinFlow], *, username: str, password: str):
        self.tenant = tenant
        self.flows = {flow.flow_id: flow for flow in flows}
        self.username = username
        self.password = password
        self.token = "tok-" + uuid.uuid4().hex
        self.states: dict[str, _State] = {}
        self.requests: list[Recorded] = []
        self.url = ""
        self.lock = threading.Lock()

    # the endpoints ------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(Recorded(method, path, headers, body))
            if headers.get("manywhotenant") != self.tenant:
                return 401, {"message": "unknown tenant"}
            if (method, path) == ("POST", "/api/draw/1/authentication"):
                return self.login(body)
            if headers.get("authorization") != self.token:
                init = sample("initialization-response")
                init.update(stateId=None, stateToken=None, statusCode="401")
                return (200, init) if path == "/api/run/1" else (401, {"message": "log in"})
            if (method, path) == ("POST", "/api/run/1"):
                return self.initialize(body)
            prefix = "/api/run/1/state/"
            if path.startswith(prefix) and path[len(prefix) :] in self.states:
                state = self.states[path[len(prefix) :]]
                if method == "POST":
                    return self.invoke(state, path[len(prefix) :], body)
                if method == "GET":
                    return 200, self.join(state, path[len(prefix) :])
            return 404, {"message": f"no such resource {method} {path}"}

    def login(self, body: Any) -> tuple[int, Any]:
        expected = set(sample("authentication-request"))
        if not isinstance(body, dict) or set(body) != expected:
            return 400, {"message": "not an authentication request"}
        if (body["username"], body["password"]) != (self.username, self.password):
            return 401, {"message": "wrong username or password"}
        return 200, self.token

    def initialize(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not set(body) <= set(sample("initialization-request")):
            return 400, {"message": "not an EngineInitializationRequest"}
        flow_id = body.get("flowId") or {}
        flow = self.flows.get(flow_id.get("id"))
        if flow is None or flow_id.get("versionId") not in (None, flow.version_id):
            return 404, {"message": "no such flow"}
        inputs = {item["developerName"]: item["contentValue"] for item in body.get("inputs") or ()}
        state_id = str(uuid.uuid4())
        state = self.states[state_id] = _State(flow, inputs)
        init = sample("initialization-response")
        init.update(stateId=state_id, stateToken=state.token)
        return 200, init

    def invoke(self, state: _State, state_id: str, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) != set(sample("invoke-request")):
            return 400, {"message": "not an EngineInvokeRequest"}
        if body["stateToken"] != state.token or body["invokeType"] != "FORWARD":
            return 409, {"message": "stale state token or not FORWARD"}
        state.at = 0
        state.done = not state.flow.waits
        return 200, self.answer(state, state_id)

    def join(self, state: _State, state_id: str) -> Any:
        if not state.done:
            state.joined += 1
            if state.joined >= state.flow.joins:
                state.joined = 0
                state.at += 1
                state.done = state.at >= len(state.flow.waits)
        return self.answer(state, state_id)

    def answer(self, state: _State, state_id: str) -> Any:
        if state.done:
            response = sample("invoke-response-done")
            response["outputs"] = state.flow.outputs(state.inputs)
        else:
            response = sample("invoke-response-wait")
            response["mapElementInvokeResponses"][0]["developerName"] = state.flow.waits[state.at]
        state.token = str(uuid.uuid4())
        response.update(stateId=state_id, stateToken=state.token)
        return copy.deepcopy(response)


@contextmanager
def running_standin(
    tenant: str, flows: list[StandinFlow], *, username: str = "builder", password: str = "pw"
) -> Iterator[FlowStandin]:
    standin = FlowStandin(tenant, flows, username=username, password=password)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer = standin.handle(self.command, self.path, headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
