"""Configuration belongs to the operator unless a package says otherwise (issue 11, finding 1
and the configuration half of finding 4).

The requests are the ones the finding reproduced: a Flow request choosing the invoice folder or
the database of the countries example. Then what an operator sets (`flowhost config set`, as an
operator would run it) is what a process sees, per runtime and per Flow tenant, and a secret
stays secret once a process has used it: not in `config list`, the database, the history, the
executor's log, nor an error message.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.devcluster import Child, Cluster, free_port
from tests.e2e.cluster import ROOT, assert_eventually, flowhost
from tests.security.conftest import assert_serving

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).parent / "packages" / "probe.yaml"
SERVICE_PROBLEM = "x-manywho-service-problem-kind"


def _config(**values: str) -> list[dict[str, Any]]:
    return [{"developerName": k, "contentValue": v} for k, v in values.items()]


def _refused(response: httpx.Response, name: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers.get(SERVICE_PROBLEM) == "service"
    problem = response.json()
    assert problem["code"] == "operator_configuration"
    assert f"'{name}'" in problem["message"]
    assert "objectData" not in problem


def _set(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    target = ["--url", cluster.url, "--data-dir", str(cluster.data_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "flowhost.cli.main", "config", *args, *target],
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# --- the finding's requests ----------------------------------------------------------------


def test_flow_cannot_choose_the_invoice_folder(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    response = httpx.post(
        f"{cluster.url}/fs/countries/file",
        json={
            "resourcePath": "/invoices",
            "configurationValues": [{"developerName": "invoiceFolder", "contentValue": "/etc"}],
        },
        auth=flow_auth,
        timeout=30,
    )
    _refused(response, "invoiceFolder")
    assert "passwd" not in response.text
    assert_serving(cluster, flow_auth)


def test_flow_cannot_upload_into_a_folder_it_chose(
    cluster: Cluster, flow_auth: tuple[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "chosen"
    target.mkdir()
    request = {
        "resourcePath": "/invoices",
        "configurationValues": _config(invoiceFolder=str(target)),
    }
    response = httpx.post(
        f"{cluster.url}/fs/countries/file/content",
        files={
            "FileDataRequest": (None, json.dumps(request), "application/json"),
            "file": ("planted.txt", b"planted", "text/plain"),
        },
        auth=flow_auth,
        timeout=30,
    )
    _refused(response, "invoiceFolder")
    assert list(target.iterdir()) == []
    assert_serving(cluster, flow_auth)


def test_flow_cannot_choose_a_sqlite_file(
    cluster: Cluster, flow_auth: tuple[str, str], tmp_path: Path
) -> None:
    planted = tmp_path / "planted.db"
    response = httpx.post(
        f"{cluster.url}/fs/countries/data",
        json={
            "objectDataType": {"developerName": "Country", "properties": []},
            "configurationValues": _config(databaseUrl=f"sqlite:///{planted}"),
        },
        auth=flow_auth,
        timeout=30,
    )
    _refused(response, "databaseUrl")
    assert not planted.exists()
    assert_serving(cluster, flow_auth)


def test_flow_cannot_make_the_executor_connect_anywhere(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(1.0)
        port = listener.getsockname()[1]
        response = httpx.post(
            f"{cluster.url}/fs/countries/data",
            json={
                "objectDataType": {"developerName": "Country", "properties": []},
                "configurationValues": _config(
                    databaseUrl=f"postgresql://x:y@127.0.0.1:{port}/test"
                ),
            },
            auth=flow_auth,
            timeout=30,
        )
        _refused(response, "databaseUrl")
        with pytest.raises(TimeoutError):
            listener.accept()


def test_metadata_describes_only_what_flow_may_set(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    countries = httpx.get(f"{cluster.url}/fs/countries/metadata", auth=flow_auth, timeout=30)
    assert countries.status_code == 200, countries.text
    assert countries.json()["configurationValues"] == []
    shop = httpx.post(f"{cluster.url}/fs/shop/metadata", json={}, auth=flow_auth, timeout=30)
    names = [v["developerName"] for v in shop.json()["configurationValues"]]
    assert names == ["currency"]


def test_the_examples_still_work_out_of_the_box(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    response = httpx.post(
        f"{cluster.url}/fs/countries/file",
        json={"resourcePath": "/invoices"},
        auth=flow_auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["objectData"] == []
    loaded = httpx.post(
        f"{cluster.url}/fs/countries/data",
        json={"objectDataType": {"developerName": "Country", "properties": []}},
        auth=flow_auth,
        timeout=30,
    )
    assert loaded.status_code == 200, loaded.text
    assert (cluster.data_dir / "files" / "default" / "countries.db").is_file()  # in the files root


# --- what the operator sets is what a process sees -----------------------------------------


@pytest.fixture(scope="module")
def probe(cluster: Cluster) -> None:
    deployed = flowhost(cluster, "deploy", str(PROBE))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr


def _show(cluster: Cluster, auth: tuple[str, str], **fields: Any) -> httpx.Response:
    return httpx.post(f"{cluster.url}/fs/probe/actions/show", json=fields, auth=auth, timeout=30)


def _seen(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {o["developerName"]: o["contentValue"] for o in response.json()["outputs"]}


def test_an_operator_value_reaches_the_process(
    cluster: Cluster, flow_auth: tuple[str, str], probe: None
) -> None:
    assert _seen(_show(cluster, flow_auth))["motto"] == "none"  # the package default
    _set(cluster, "set", "motto", "carpe diem", "--runtime", "default")
    try:
        assert _seen(_show(cluster, flow_auth))["motto"] == "carpe diem"
        refused = _show(cluster, flow_auth, configurationValues=_config(motto="mine"))
        _refused(refused, "motto")
    finally:
        _set(cluster, "unset", "motto", "--runtime", "default")
    assert _seen(_show(cluster, flow_auth))["motto"] == "none"


def test_flow_still_sets_what_the_package_lets_it(
    cluster: Cluster, flow_auth: tuple[str, str], probe: None
) -> None:
    _set(cluster, "set", "greeting", "good day", "--runtime", "default")
    try:
        assert _seen(_show(cluster, flow_auth))["greeting"] == "good day"
        flow_says = _show(cluster, flow_auth, configurationValues=_config(greeting="hi"))
        assert _seen(flow_says)["greeting"] == "hi"
    finally:
        _set(cluster, "unset", "greeting", "--runtime", "default")


def test_a_tenant_value_overrides_the_runtime_value(
    cluster: Cluster, flow_auth: tuple[str, str], probe: None
) -> None:
    _set(cluster, "set", "motto", "for all", "--runtime", "default")
    _set(cluster, "set", "motto", "for acme", "--runtime", "default", "--tenant", "acme")
    try:
        assert _seen(_show(cluster, flow_auth))["motto"] == "for all"
        assert _seen(_show(cluster, flow_auth, tenantId="acme"))["motto"] == "for acme"
        assert _seen(_show(cluster, flow_auth, tenantId="globex"))["motto"] == "for all"
        listed = _set(cluster, "list", "--runtime", "default")
        assert "for acme" in listed and "acme" in listed
    finally:
        _set(cluster, "unset", "motto", "--runtime", "default", "--tenant", "acme")
        _set(cluster, "unset", "motto", "--runtime", "default")
    assert _seen(_show(cluster, flow_auth, tenantId="acme"))["motto"] == "none"


def test_a_value_set_through_one_gateway_reaches_another_sharing_the_store(
    cluster: Cluster, flow_auth: tuple[str, str], probe: None, tmp_path: Path
) -> None:
    port = free_port()
    assert cluster.link is not None
    second = Child(
        "gateway-2",
        [sys.executable, "-m", "gateway"],
        {
            **os.environ,
            "FLOWHOST_HOST": "127.0.0.1",
            "FLOWHOST_PORT": str(port),
            "FLOWHOST_DATA_DIR": str(cluster.data_dir),  # the same store and key
            "FLOWHOST_EXECUTOR_TARGETS": ",".join(cluster.executor_addresses),
            **cluster.link.gateway_env(),  # a gateway of the same cluster
            "FLOWHOST_STATE_POLL_INTERVAL_S": "0.2",
            "FLOWHOST_HISTORY_ENABLED": "false",
        },
        tmp_path / "gateway-2.log",
        cluster.data_dir,
    )
    other = f"http://127.0.0.1:{port}/fs/probe/actions/show"

    def motto() -> str:
        try:
            response = httpx.post(other, json={}, auth=flow_auth, timeout=5)
        except httpx.TransportError as error:
            raise AssertionError(f"the second gateway does not answer yet: {error}") from None
        return _seen(response)["motto"]

    second.start()
    try:
        assert_eventually(lambda: _expect(motto(), "none"), timeout_s=60)
        _set(cluster, "set", "motto", "shared", "--runtime", "default")  # the first gateway
        assert_eventually(lambda: _expect(motto(), "shared"), timeout_s=10)
    finally:
        _set(cluster, "unset", "motto", "--runtime", "default")
        assert second.process is not None
        second.process.terminate()
        second.process.wait(timeout=30)


def _expect(got: str, want: str) -> None:
    assert got == want


# --- a secret stays secret ------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        body = json.dumps({"path": self.path.split("?")[0]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def test_a_secret_is_used_but_never_shown(
    cluster: Cluster, flow_auth: tuple[str, str], probe: None, echo: str, tmp_path: Path
) -> None:
    key = f"k3y-{secrets.token_hex(8)}"
    token = f"t0k-{secrets.token_hex(8)}"
    _set(cluster, "set", "apiBase", echo, "--runtime", "default")
    # From stdin, as an operator keeps a secret out of the shell history.
    said = _set(cluster, "set", "apiKey", "--runtime", "default", stdin=key + "\n")
    assert "secret" in said  # a password: secret without asking
    keyfile = tmp_path / "token.txt"
    keyfile.write_text(token + "\n")
    _set(cluster, "set", "token", "--secret", "--file", str(keyfile), "--runtime", "default")

    called = httpx.post(
        f"{cluster.url}/fs/probe/actions/call?_flowhost_debug=true",
        json={},
        auth=flow_auth,
        timeout=30,
    )
    assert called.status_code == 200, called.text
    assert _Echo.seen and f"key={key}" in _Echo.seen[-1] and f"token={token}" in _Echo.seen[-1]
    execution = called.headers["x-flowhost-execution-id"]

    failed = httpx.post(f"{cluster.url}/fs/probe/actions/leak", json={}, auth=flow_auth, timeout=30)
    assert failed.status_code >= 400
    problem = failed.json()["message"]
    assert "were refused" in problem
    assert key not in problem and token not in problem and "••••" in problem

    listed = _set(cluster, "list", "--runtime", "default")
    assert "apiKey" in listed and "secret, set" in listed
    assert key not in listed and token not in listed

    # The history: the recorded execution (documents and trace) holds neither.
    detail = flowhost(cluster, "executions", "show", execution)
    assert detail.returncode == 0, detail.stderr
    assert key not in detail.stdout and token not in detail.stdout
    with httpx.Client(base_url=cluster.url, auth=_admin(cluster), timeout=30) as api:
        recorded = api.get(f"/api/executions/{execution}")
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["recorded"] is True
        assert key not in recorded.text and token not in recorded.text

    # At rest: the raw rows are ciphertext, and no file of the data folder (database, WAL,
    # logs) holds either secret in clear.
    with sqlite3.connect(cluster.data_dir / "flowhost.db") as conn:
        rows = dict(
            conn.execute(
                "SELECT name, value FROM flowhost_config_values WHERE name IN ('apiKey', 'token')"
            ).fetchall()
        )
    assert set(rows) == {"apiKey", "token"}
    assert key not in rows["apiKey"] and token not in rows["token"]
    assert _files_holding(cluster.data_dir, key.encode()) == []
    assert _files_holding(cluster.data_dir, token.encode()) == []
    # ...while the executor did log the request (httpx's INFO line), masked.
    logs = "".join(p.read_text() for p in (cluster.data_dir / "logs").glob("executor-*.log"))
    assert "/echo?[redacted]" in logs  # the query string goes whole (executors/redaction.py)
    assert_serving(cluster, flow_auth)


def _admin(cluster: Cluster) -> tuple[str, str]:
    saved = json.loads((cluster.data_dir / "admin.json").read_text())
    return saved["user"], saved["password"]


def test_a_value_set_in_clear_is_encrypted_once_a_package_calls_it_a_password(
    cluster: Cluster,
) -> None:
    legacy = f"l3gacy-{secrets.token_hex(8)}"
    _set(cluster, "set", "legacyKey", legacy, "--runtime", "default")
    assert legacy in _set(cluster, "list", "--runtime", "default")  # plain: shown
    deployed = flowhost(cluster, "deploy", str(Path(__file__).parent / "packages" / "sealed.yaml"))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with sqlite3.connect(cluster.data_dir / "flowhost.db") as conn:
        value, secret = conn.execute(
            "SELECT value, secret FROM flowhost_config_values WHERE name = 'legacyKey'"
        ).fetchone()
    assert secret == 1 and legacy not in value
    assert legacy not in _set(cluster, "list", "--runtime", "default")
