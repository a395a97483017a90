"""FLOWHOST_LOG_FORMAT=json: every line the gateway and its executors write is one JSON object,
uvicorn's own lines included, and a line about a Flow request names its execution, runtime and
service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = """
name: failing
version: 1.0.0
service:
  path: failing
  actions:
    - {name: explode, process: explode}
processes:
  explode:
    steps:
      - fail: '"out of stock"'
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOWHOST_LOG_FORMAT", "json")
        patch.setenv("FLOWHOST_EXECUTOR_LOG_FORMAT", "json")
        with running_cluster(tmp_path_factory.mktemp("cluster"), executors=1) as running:
            yield running


def _lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name} line {number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        entries.append(entry)
    return entries


def test_every_line_is_json_with_the_execution_runtime_and_service(
    cluster: Cluster, tmp_path: Path
) -> None:
    package = tmp_path / "failing.yaml"
    package.write_text(PACKAGE)
    assert flowhost(cluster, "deploy", str(package)).returncode == 0
    added = flowhost(cluster, "users", "add", "logs", "--runtime", cluster.runtime)
    token = added.stdout.split("token:")[1].strip()
    with httpx.Client(base_url=cluster.url, auth=("logs", token), timeout=30) as flow:
        response = flow.post("/fs/failing/actions/explode", json={})
    assert response.status_code == 500, response.text
    execution_id = response.headers["x-flowhost-execution-id"]
    gateway_log = cluster.children[-1].log_path
    executor_logs = [child.log_path for child in cluster.children[:-1]]

    def about_the_request() -> dict[str, Any]:
        found = [e for e in _lines(gateway_log) if e.get("execution_id") == execution_id]
        assert found, "no gateway line names the execution"
        return found[0]

    entry = assert_eventually(about_the_request)
    assert (entry["runtime"], entry["service"]) == (cluster.runtime, "failing")
    assert "out of stock" in entry["message"]
    gateway = _lines(gateway_log)
    assert any(e["logger"].startswith("uvicorn") for e in gateway), "uvicorn's lines"
    assert any("flowhost gateway ready" in e["message"] for e in gateway)
    for path in executor_logs:
        executor = _lines(path)
        assert executor, f"{path.name} is empty"
        assert {e["runtime"] for e in executor} == {cluster.runtime}
