"""Labels, deploying to many runtimes and canary releases as a user types them (issue 15): the
CLI against a real cluster (gateway and executor processes), Flow requests over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from flowhost.cli.main import app
from flowhost.devcluster import Cluster, running_cluster
from tests.inprocess.test_canary import package, version_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("versions") / "data", executors=1) as running:
        yield running


def run(cluster: Cluster, *args: str) -> Result:
    env = {"FLOWHOST_URL": cluster.url, "FLOWHOST_DATA_DIR": str(cluster.data_dir)}
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})


def write(tmp_path: Path, version: str) -> str:
    path = tmp_path / f"hello-{version}.yaml"
    path.write_text(package(version))
    return str(path)


def test_labels_select_runtimes_and_a_runtime_without_executors_fails_alone(
    cluster: Cluster, tmp_path: Path
) -> None:
    added = run(cluster, "runtimes", "add", "eu", "--label", "tier=prod", "--label", "c=acme")
    assert added.exit_code == 0, added.output
    assert "runtime eu created; labels c=acme,tier=prod" in added.stdout
    assert run(cluster, "runtimes", "add", "default", "--label", "c=acme").exit_code == 0
    relabelled = run(cluster, "runtimes", "label", "eu", "customer=acme", "c-")
    assert relabelled.exit_code == 0, relabelled.output
    assert "runtime eu: labels customer=acme,tier=prod" in relabelled.stdout
    assert run(cluster, "runtimes", "label", "default", "customer=acme", "c-").exit_code == 0
    listed = run(cluster, "runtimes", "list").stdout
    assert re.search(r"eu\s+│\s+customer=acme,tier=prod", listed), listed
    bad = run(cluster, "runtimes", "label", "eu", "tier=no way")
    assert bad.exit_code == 1 and "invalid value 'no way' of label 'tier'" in bad.stderr

    deployed = run(cluster, "deploy", write(tmp_path, "1.0.0"), "--where", "customer=acme")
    assert deployed.exit_code == 1, deployed.output  # eu has no executor
    rows = {
        line.split("│")[1].strip(): line for line in deployed.stdout.splitlines() if "│" in line
    }
    assert "deployed" in rows["default"] and "1.0.0" in rows["default"]
    assert "failed" in rows["eu"] and "no executor of runtime 'eu'" in rows["eu"]
    assert "1 of 2 runtimes failed" in deployed.stderr
    nothing = run(cluster, "deploy", write(tmp_path, "1.0.0"), "--where", "customer=nobody")
    assert nothing.exit_code == 1 and "no runtime has the labels customer=nobody" in nothing.stderr


def test_a_canary_takes_its_share_shows_in_status_and_is_promoted(
    cluster: Cluster, tmp_path: Path
) -> None:
    assert run(cluster, "deploy", write(tmp_path, "1.0.0")).exit_code == 0
    canary = run(cluster, "deploy", write(tmp_path, "2.0.0"), "--canary", "10")
    assert canary.exit_code == 0, canary.output
    assert "as the canary (10% of new executions)" in canary.stdout
    token = run(cluster, "users", "add", "flow-versions").stdout.split("token:")[1].strip()
    with httpx.Client(base_url=cluster.url, auth=("flow-versions", token)) as flow:
        answered = [
            version_of(flow.post("/fs/hello/actions/hello", json={}).json()) for _ in range(50)
        ]
    assert answered.count("2.0.0") == 5

    status = run(cluster, "status").stdout
    assert re.search(r"1\.0\.0\s+│\s+active\s+│\s+90%\s+│\s+45\s+│\s+0", status), status
    assert re.search(r"2\.0\.0\s+│\s+canary\s+│\s+10%\s+│\s+5\s+│\s+0", status), status
    versions = run(cluster, "versions", "hello").stdout
    assert re.search(r"2\.0\.0\s+│\s+canary 10%", versions), versions

    promoted = run(cluster, "promote", "hello")
    assert promoted.exit_code == 0 and "hello is now at 2.0.0" in promoted.stdout
    again = run(cluster, "abort", "hello")
    assert again.exit_code == 1 and "hello has no canary in runtime 'default'" in again.stderr
