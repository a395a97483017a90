"""A process touches only what its runtime allows (issue 11, findings 1, 3 and 4).

Each test sends the finding's request to a running cluster (a gateway and two executor
processes), checks the refusal a user would see, and that nothing was touched: no file listed,
no database file made, no connection reaching the server the request pointed at.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from flowhost.client import CLIENT_HEADERS, ApiError
from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost
from tests.security.conftest import assert_serving

PROBE = Path(__file__).resolve().parents[1] / "e2e" / "packages" / "policy.yaml"
RUNTIME = "default"
TARGET_X = {"developerName": "target", "contentType": "ContentString", "contentValue": "x"}


# -- helpers ---------------------------------------------------------------------------------


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections reaching it (and answers HTTP)."""

    def __init__(self) -> None:
        self.connections = 0
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                listener.connections += 1
                super().setup()

            def do_GET(self) -> None:
                body = b'{"reached": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def probe(cluster: Cluster) -> Cluster:
    deployed = flowhost(cluster, "deploy", str(PROBE))
    assert deployed.returncode == 0, deployed.stderr
    return cluster


def files_root(cluster: Cluster) -> Path:
    """Where `flowhost up` keeps the runtime's files: files/<runtime> in the data folder."""
    return cluster.data_dir / "files" / RUNTIME


def call(cluster: Cluster, auth: tuple[str, str], action: str, target: str) -> httpx.Response:
    body = {"inputs": [{"developerName": "target", "contentType": "ContentString",
                        "contentValue": target}]}  # fmt: skip
    return httpx.post(
        f"{cluster.url}/fs/policy-probe/actions/{action}", json=body, auth=auth, timeout=30
    )


def refused(response: httpx.Response, code: str) -> str:
    """The ServiceProblem of a policy refusal: 403 with the step's code; gives its message."""
    assert response.status_code == 403, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    problem = response.json()
    assert problem["code"] == code, problem
    message: str = problem["message"]
    return message


def result(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    outputs = {o["developerName"]: o["contentValue"] for o in response.json()["outputs"]}
    return str(outputs["result"])


def set_policy(cluster: Cluster, **fields: Any) -> dict[str, Any]:
    with cluster.client() as client:
        answer: dict[str, Any] = client.request(
            "PUT", f"/api/runtimes/{RUNTIME}/policy", json=fields
        )
    return answer


@pytest.fixture
def loopback_refused(probe: Cluster) -> Iterator[Cluster]:
    """The runtime under the production default: loopback refused."""
    set_policy(probe, allow_loopback=False)
    yield probe
    with probe.client() as client:
        client.request("DELETE", f"/api/runtimes/{RUNTIME}/policy")


# -- files ------------------------------------------------------------------------------------


def _file_list(cluster: Cluster, auth: tuple[str, str], folder: str | None) -> httpx.Response:
    request: dict[str, Any] = {"resourcePath": "/invoices"}
    if folder is not None:
        request["configurationValues"] = [
            {"developerName": "invoiceFolder", "contentValue": folder}
        ]
    return httpx.post(f"{cluster.url}/fs/countries/file", json=request, auth=auth, timeout=30)


@pytest.mark.parametrize("folder", ["/etc", "..", "../../..", "invoices/../../.."])
def test_the_finding_invoice_folder_outside_the_root_lists_nothing(
    cluster: Cluster, flow_auth: tuple[str, str], folder: str
) -> None:
    """Finding 1: `invoiceFolder` = /etc listed /etc. Now: a 4xx, and no file of the host.

    (Once Flow may no longer set operator-owned values, this is the 400 refusing the value
    itself; until then the file step's own refusal.)"""
    response = _file_list(cluster, flow_auth, folder)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    for host_file in ("passwd", "hostname", "flowhost.db", "admin.json"):
        assert host_file not in response.text
    assert str(cluster.data_dir) not in response.text
    assert_serving(cluster, flow_auth)


@pytest.mark.parametrize("folder", ["/etc", "..", "../..", "a/../../b"])
def test_the_file_step_refuses_folders_outside_the_root(
    probe: Cluster, flow_auth: tuple[str, str], folder: str
) -> None:
    message = refused(call(probe, flow_auth, "listFolder", folder), "path_outside_root")
    assert "files root" in message
    assert str(probe.data_dir) not in message  # never where the root is on the host


def test_a_symlink_out_of_the_root_is_refused(probe: Cluster, flow_auth: tuple[str, str]) -> None:
    root = files_root(probe)
    root.mkdir(parents=True, exist_ok=True)
    link = root / "escape"
    if not link.is_symlink():
        os.symlink("/etc", link)
    message = refused(call(probe, flow_auth, "listFolder", "escape"), "path_outside_root")
    assert "/etc" not in message and str(root) not in message


def test_the_examples_invoice_folder_works_inside_the_root(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    """The countries example's relative `invoices` lands in files/<runtime> of the data folder."""
    boundary = "policyboundary"
    request = json.dumps({"resourcePath": "/invoices"})
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="FileDataRequest"\r\n'
        f"Content-Type: application/json\r\n\r\n{request}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="inv-1.pdf"'
        f"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1\r\n--{boundary}--\r\n"
    ).encode()
    uploaded = httpx.post(
        f"{cluster.url}/fs/countries/file/content",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        auth=flow_auth,
        timeout=30,
    )
    assert uploaded.status_code == 200, uploaded.text
    stored = files_root(cluster) / "invoices" / "inv-1.pdf"
    assert stored.read_bytes() == b"%PDF-1"
    assert stored.stat().st_mode & 0o077 == 0  # not readable by other users of the host
    listed = _file_list(cluster, flow_auth, None)
    assert listed.status_code == 200, listed.text
    assert "inv-1.pdf" in [o["externalId"] for o in listed.json()["objectData"]]


# -- databases --------------------------------------------------------------------------------


def test_the_examples_sqlite_database_lives_in_the_root(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    request = {"objectDataType": {"developerName": "Country", "properties": []}}
    response = httpx.post(
        f"{cluster.url}/fs/countries/data", json=request, auth=flow_auth, timeout=30
    )
    assert response.status_code == 200, response.text
    assert (files_root(cluster) / "countries.db").is_file()


def test_a_sqlite_file_elsewhere_is_refused_and_not_created(
    probe: Cluster, flow_auth: tuple[str, str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "made-by-a-request.db"
    response = call(probe, flow_auth, "queryDatabase", f"sqlite:///{elsewhere}")
    refused(response, "path_outside_root")
    assert not elsewhere.exists()
    # The finding's request: the example's databaseUrl from Flow, naming another SQLite file.
    request = {
        "objectDataType": {"developerName": "Country", "properties": []},
        "configurationValues": [
            {"developerName": "databaseUrl", "contentValue": f"sqlite:///{elsewhere}"}
        ],
    }
    answer = httpx.post(f"{probe.url}/fs/countries/data", json=request, auth=flow_auth, timeout=30)
    assert 400 <= answer.status_code < 500, answer.text
    assert not elsewhere.exists()


def test_a_postgresql_url_is_refused_without_connecting(
    probe: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    """Open and closed ports get the same answer, and the open one sees no connection."""
    answers = []
    for port in (listener.port, closed_port()):
        url = f"postgresql://scan@127.0.0.1:{port}/x"
        message = refused(call(probe, flow_auth, "queryDatabase", url), "database_not_allowed")
        answers.append(message.replace(str(port), "PORT"))
    assert answers[0] == answers[1]
    assert "nothing was connected" in answers[0]
    assert listener.connections == 0
    assert_serving(probe, flow_auth)


def test_a_listed_database_url_is_opened(
    probe: Cluster, flow_auth: tuple[str, str], postgres_url: str
) -> None:
    """The operator lists a server; db steps may then open its databases."""
    url = make_url(postgres_url)
    target = url.render_as_string(hide_password=False)
    refused(call(probe, flow_auth, "queryDatabase", target), "database_not_allowed")
    server = url.set(database=None).render_as_string(hide_password=False)
    set_policy(probe, database_urls=[server])
    try:
        assert result(call(probe, flow_auth, "queryDatabase", target)) == "1"
    finally:
        with probe.client() as client:
            client.request("DELETE", f"/api/runtimes/{RUNTIME}/policy")


# -- egress -----------------------------------------------------------------------------------


def test_http_to_cloud_metadata_is_always_refused(
    probe: Cluster, flow_auth: tuple[str, str]
) -> None:
    for policy in ({"allow_loopback": True, "allow_private": True}, {}):
        set_policy(probe, **policy)
        message = refused(
            call(probe, flow_auth, "fetch", "http://169.254.169.254/latest/meta-data/"),
            "egress_refused",
        )
        assert "link-local" in message
    with probe.client() as client:
        client.request("DELETE", f"/api/runtimes/{RUNTIME}/policy")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "localhost", "[::ffff:127.0.0.1]"]
)
def test_http_to_loopback_is_refused_by_default(
    loopback_refused: Cluster, flow_auth: tuple[str, str], listener: Listener, host: str
) -> None:
    response = call(loopback_refused, flow_auth, "fetch", f"http://{host}:{listener.port}/")
    assert "loopback" in refused(response, "egress_refused")
    assert listener.connections == 0


def test_http_to_loopback_is_allowed_when_the_runtime_allows_it(
    loopback_refused: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    target = f"http://127.0.0.1:{listener.port}/"
    refused(call(loopback_refused, flow_auth, "fetch", target), "egress_refused")
    set_policy(loopback_refused, allow_loopback=True)
    assert json.loads(result(call(loopback_refused, flow_auth, "fetch", target))) == {
        "reached": True
    }
    assert listener.connections == 1


def test_a_remote_that_fails_the_process_is_a_bad_gateway_not_a_500(
    loopback_refused: Cluster, flow_auth: tuple[str, str]
) -> None:
    """The remote is down: the caller gets 502 naming the step and the address, and may retry."""
    set_policy(loopback_refused, allow_loopback=True)
    target = f"http://127.0.0.1:{closed_port()}/"
    response = call(loopback_refused, flow_auth, "fetch", target)
    assert response.status_code == 502, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    problem = response.json()
    assert problem["code"] == "http_error", problem
    assert target.rstrip("/") in problem["message"], problem
    assert_serving(loopback_refused, flow_auth)


def test_an_egress_allow_list_admits_only_what_it_lists(
    loopback_refused: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    set_policy(loopback_refused, egress_allow=["127.0.0.1/32"])
    assert "reached" in result(
        call(loopback_refused, flow_auth, "fetch", f"http://127.0.0.1:{listener.port}/")
    )
    message = refused(
        call(loopback_refused, flow_auth, "fetch", f"http://127.0.0.2:{listener.port}/"),
        "egress_refused",
    )
    assert "allow-list" in message


# -- callbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/cb",
        "http://[::ffff:169.254.169.254]/cb",
    ],
)
def test_a_callback_uri_to_link_local_is_refused_at_request_time(
    probe: Cluster, flow_auth: tuple[str, str], uri: str
) -> None:
    body = {
        "inputs": [TARGET_X],
        "callbackUri": uri,
    }
    response = httpx.post(
        f"{probe.url}/fs/policy-probe/actions/slow", json=body, auth=flow_auth, timeout=30
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "callback_not_allowed"
    assert "callbackUri" in problem["message"] and "always refused" in problem["message"]


def test_a_callback_uri_to_loopback_is_refused_unless_the_runtime_allows_it(
    loopback_refused: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    body = {
        "inputs": [TARGET_X],
        "callbackUri": f"http://0x7f000001:{listener.port}/cb",
    }
    url = f"{loopback_refused.url}/fs/policy-probe/actions/slow"
    response = httpx.post(url, json=body, auth=flow_auth, timeout=30)
    assert response.status_code == 400, response.text
    assert "loopback" in response.json()["message"]
    set_policy(loopback_refused, allow_loopback=True)
    waited = httpx.post(url, json=body, auth=flow_auth, timeout=30)
    assert waited.status_code == 200 and waited.json()["invokeType"] == "WAIT", waited.text


# -- the policy API and its way to the executors ----------------------------------------------


def test_a_bad_policy_is_a_422_naming_the_field(probe: Cluster) -> None:
    with httpx.Client(
        base_url=probe.url, auth=_admin(probe), timeout=30, headers=CLIENT_HEADERS
    ) as client:
        for field, value in (
            ("egress_allow", ["10.0.0.0/33"]),
            ("egress_allow", ["not a host"]),
            ("database_urls", ["::nonsense::"]),
            ("files_root", "relative/folder"),
        ):
            response = client.put(f"/api/runtimes/{RUNTIME}/policy", json={field: value})
            assert response.status_code == 422, response.text
            assert field in response.text
        # A limit past what the executor link carries (uint64) used to be stored and leave every
        # executor of the runtime not ready: refused, and the executors keep serving.
        huge = client.put(
            f"/api/runtimes/{RUNTIME}/policy", json={"limits": {"split_fanout": 10**30}}
        )
        assert huge.status_code == 422, huge.text
        assert "split_fanout" in huge.text
        assert all(e["ready"] for e in client.get("/api/executors").json())
        bad = flowhost(probe, "policy", "set", "--runtime", RUNTIME, "--egress", "10.0.0.0/33")
        assert bad.returncode == 1 and "egress_allow" in bad.stderr, bad.stderr
        openapi = client.get("/openapi.json").json()
        assert "/api/runtimes/{runtime}/policy" in openapi["paths"]


def test_every_executor_holds_the_policy_also_after_a_restart(
    probe: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    answer = set_policy(probe, allow_loopback=False, limits={"split_fanout": 77})
    assert len(answer["executors"]) == 2
    assert all(e["applied"] for e in answer["executors"]), answer
    shown = flowhost(probe, "policy", "show", "--runtime", RUNTIME)
    assert shown.returncode == 0, shown.stderr
    assert "split_fanout=77" in shown.stdout and "loopback:       refused" in shown.stdout
    # An executor that restarts holds the policy again before it serves.
    child = probe.children[0]
    assert child.process is not None
    child.process.kill()
    child.process.wait()
    child.start()

    def restarted_and_configured() -> None:
        with probe.client() as client:
            status = client.request("GET", f"/api/runtimes/{RUNTIME}/policy")
            executors = client.request("GET", "/api/executors")
        assert sum(e["ready"] for e in executors) == 2, executors
        assert all(e["applied"] for e in status["executors"]), status

    assert_eventually(restarted_and_configured, timeout_s=30)
    for _ in range(4):  # both executors, whichever the pool picks
        target = f"http://127.0.0.1:{listener.port}/"
        refused(call(probe, flow_auth, "fetch", target), "egress_refused")
    set_cli = flowhost(probe, "policy", "set", "--runtime", RUNTIME, "--allow-loopback")
    assert set_cli.returncode == 0, set_cli.stderr
    assert "reached" in result(
        call(probe, flow_auth, "fetch", f"http://127.0.0.1:{listener.port}/")
    )
    reset = flowhost(probe, "policy", "reset", "--runtime", RUNTIME)
    assert reset.returncode == 0, reset.stderr
    assert "the default" in reset.stdout


def _admin(cluster: Cluster) -> tuple[str, str]:
    from flowhost.client import admin_from

    return admin_from(cluster.data_dir)


# -- logs -------------------------------------------------------------------------------------


def test_a_password_in_a_query_string_never_reaches_the_executor_log(
    probe: Cluster, flow_auth: tuple[str, str], listener: Listener
) -> None:
    """Finding 4: httpx's INFO line printed the full URL, query string and all."""
    secret = "s3cret-in-the-query"
    target = f"http://flow:{secret}-user@127.0.0.1:{listener.port}/x?password={secret}"
    assert "reached" in result(call(probe, flow_auth, "fetch", target))

    def logged() -> str:
        text = "".join((probe.data_dir / "logs" / f"executor-{i}.log").read_text() for i in (1, 2))
        assert f":{listener.port}/x?[redacted]" in text  # the request line was written
        return text

    text = assert_eventually(logged)
    assert secret not in text


def test_a_policy_or_value_for_a_runtime_that_does_not_exist_is_refused(cluster: Cluster) -> None:
    """A typo in --runtime must not make a new runtime that holds the restriction while the
    meant one stays open (nor one that holds a broker URL nobody uses)."""
    policy = flowhost(cluster, "policy", "set", "-r", "defualt", "--egress", "api.example.com")
    assert policy.returncode != 0
    assert "no runtime 'defualt'" in policy.stdout + policy.stderr
    value = flowhost(cluster, "config", "set", "broker", "nats://x:4222", "--runtime", "defualt")
    assert value.returncode != 0
    assert "no runtime 'defualt'" in value.stdout + value.stderr
    listed = flowhost(cluster, "runtimes", "list")
    assert listed.returncode == 0 and "defualt" not in listed.stdout
    with cluster.client() as client, pytest.raises(ApiError) as refused:
        client.request("PUT", "/api/runtimes/defualt/policy", json={})
    assert refused.value.status == 404
