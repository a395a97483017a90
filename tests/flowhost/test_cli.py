"""The CLI's everyday edges, as a user meets them: typer's CliRunner against a real gateway
(a subprocess cluster), and against a web server that is not one."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flowhost.cli.main import app
from flowhost.devcluster import Cluster, running_cluster
from flowhost.examples import FOLDER as EXAMPLES

pytestmark = pytest.mark.e2e
ISO_UTC = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cli") / "data", executors=1) as running:
        yield running


def run(cluster: Cluster | None, *args: str) -> Result:
    env = (
        {"FLOWHOST_URL": cluster.url, "FLOWHOST_DATA_DIR": str(cluster.data_dir)} if cluster else {}
    )
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})


def test_version_is_the_installed_one() -> None:
    result = run(None, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"flowhost {version('flowhost')}"


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (("executions", "--status", "bogus"), "'ok', 'failed', 'deadline', 'cancelled', 'lost'"),
        (
            ("callbacks", "--state", "bogus"),
            "'running', 'pending', 'delivered', 'dead', 'superseded'",
        ),
        (("executions", "recording", "bogus"), "'on', 'off'"),
        (("bench", "--peer", "bogus"), "'nodered'"),
    ],
)
def test_a_bad_choice_is_an_error_listing_the_good_ones(
    args: tuple[str, ...], choices: str
) -> None:
    result = run(None, *args)
    assert result.exit_code == 2
    assert f"'bogus' is not one of {choices}" in result.stderr


def test_every_timestamp_is_iso_8601_utc(cluster: Cluster, tmp_path: Path) -> None:
    assert run(cluster, "deploy", str(EXAMPLES / "shop.yaml")).exit_code == 0
    assert run(cluster, "users", "add", "tess").exit_code == 0
    for args in (("versions", "shop"), ("users", "list"), ("runtimes", "list")):
        result = run(cluster, *args)
        assert result.exit_code == 0, result.stderr
        assert ISO_UTC.search(result.stdout), result.stdout
        assert "+00:00" not in result.stdout and ".000" not in result.stdout


def test_users_join_only_runtimes_that_were_created(cluster: Cluster) -> None:
    refused = run(cluster, "users", "add", "carol", "--runtime", "nosuch")
    assert refused.exit_code == 1
    assert "no runtime 'nosuch'" in refused.stderr
    assert "flowhost runtimes add nosuch" in refused.stderr
    assert "carol" not in run(cluster, "users", "list").stdout

    created = run(cluster, "runtimes", "add", "nosuch")
    assert created.exit_code == 0 and "runtime nosuch created" in created.stdout
    again = run(cluster, "runtimes", "add", "nosuch")
    assert again.exit_code == 0 and "exists already" in again.stdout
    added = run(cluster, "users", "add", "carol", "--runtime", "nosuch")
    assert added.exit_code == 0, added.stderr
    assert "nosuch" in run(cluster, "runtimes", "list").stdout

    in_use = run(cluster, "runtimes", "remove", "nosuch")
    assert in_use.exit_code == 1
    assert "users carol" in in_use.stderr and "--force" in in_use.stderr
    assert "(HTTP 409)" in in_use.stderr
    forced = run(cluster, "runtimes", "remove", "nosuch", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "nosuch" not in run(cluster, "runtimes", "list").stdout
    assert "carol" not in run(cluster, "users", "list").stdout
    gone = run(cluster, "runtimes", "remove", "nosuch")
    assert gone.exit_code == 1 and "no runtime 'nosuch'" in gone.stderr


class _NotFlowhost(BaseHTTPRequestHandler):
    """A web server with an HTML page for every path, as a wrong --url finds one."""

    def _page(self, status: int) -> None:
        body = b"<!doctype html><html><body><h1>Welcome to nginx!</h1>" + b"x" * 2000 + b"</html>"
        self.send_response(status)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._page(200 if self.path == "/" else 404)

    def do_POST(self) -> None:
        self._page(405)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_flowhost(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFlowhost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "admin.json").write_text('{"user": "admin", "password": "x"}')
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("args", [("status",), ("users", "add", "dave"), ("runtimes", "list")])
def test_a_url_that_is_not_a_gateway_is_one_line(
    not_flowhost: tuple[str, Path], args: tuple[str, ...]
) -> None:
    url, data_dir = not_flowhost
    result = CliRunner().invoke(app, [*args, "--url", url, "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "not as a flowhost gateway does" in lines[0] and url in lines[0]
    assert "<html" not in result.stderr and "nginx" not in result.stderr


TESTED = """
name: tested
version: '1'
service: {path: tested, actions: [{name: echo, process: echo}]}
processes:
  echo: {steps: [{return: {}}]}
tests:
  - {name: echoes, action: echo, input: {a: 1}, expect: {document: {a: EXPECTED}}}
"""


def test_deploy_test_refuses_a_package_whose_tests_fail(cluster: Cluster, tmp_path: Path) -> None:
    package = tmp_path / "tested.yaml"
    package.write_text(TESTED.replace("EXPECTED", "2"))
    refused = run(cluster, "deploy", str(package), "--test")
    assert refused.exit_code == 1
    assert "FAIL  echoes" in refused.stdout
    assert "0 passed, 1 failed: the package's tests must pass (--test); nothing deployed" in (
        refused.stderr
    )
    assert "tested" not in run(cluster, "versions", "tested").stdout
    package.write_text(TESTED.replace("EXPECTED", "1"))
    deployed = run(cluster, "deploy", str(package), "--test")
    assert deployed.exit_code == 0, deployed.output
    assert "1 passed, 0 failed" in deployed.stdout
    assert "tested 1 deployed to runtime default" in deployed.stdout
    assert "tested" in run(cluster, "versions", "tested").stdout
