"""End to end: a real gateway and two real executor processes, driven as Flow and a user would."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.client import admin_from
from flowhost.devcluster import Cluster
from tests.e2e.cluster import ROOT, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "packages" / "e2e.yaml"


def _inputs(
    sku: str = "ab-100", quantity: str = "3", unit_price: str = "12.5"
) -> list[dict[str, Any]]:
    return [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": sku},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": quantity},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": unit_price},
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def deployed(cluster: Cluster) -> str:
    result = flowhost(cluster, "deploy", str(PACKAGE))
    assert result.returncode == 0, result.stderr
    assert "e2e 1.0.0 deployed to runtime default" in result.stdout
    assert "on 2 executors" in result.stdout
    return "e2e"


@pytest.fixture(scope="module")
def user(cluster: Cluster, deployed: str) -> tuple[str, str]:
    result = flowhost(cluster, "users", "add", "alice", "--runtime", "default")
    assert result.returncode == 0, result.stderr
    token = result.stdout.split("token:")[1].strip()
    return "alice", token


@pytest.fixture()
def fs(cluster: Cluster, user: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{cluster.url}/fs/e2e", auth=user, timeout=30) as client:
        yield client


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    body = response.json()
    assert body["kind"] == "service"
    assert body["statusCode"] == status
    message: str = body["message"]
    return message


def test_describe_v1_lists_the_actions_with_typed_inputs(fs: httpx.Client) -> None:
    response = fs.post("/metadata", json={"uri": "http://x/fs/e2e", "configurationValues": []})
    assert response.status_code == 200, response.text
    describe = response.json()
    assert describe["providesLogic"] is True
    actions = {a["developerName"]: a for a in describe["actions"]}
    assert set(actions) == {"quote", "broken", "forever", "choose"}
    assert actions["quote"]["uriPart"] == "actions/quote"
    inputs = {i["developerName"]: i["contentType"] for i in actions["quote"]["serviceInputs"]}
    assert inputs == {
        "sku": "ContentString",
        "quantity": "ContentNumber",
        "unitPrice": "ContentNumber",
    }
    config = {c["developerName"] for c in describe["configurationValues"]}
    assert config == {"greeting"}


def test_describe_v2_pair(fs: httpx.Client) -> None:
    describe = fs.get("/metadata").json()
    assert describe["version"] == "2"
    assert "actions" not in describe or not describe["actions"]
    install = fs.post("/metadata/install", json={"configurationValues": []}).json()
    assert {a["developerName"] for a in install["actions"]} == {
        "quote",
        "broken",
        "forever",
        "choose",
    }


def test_message_action_answers_forward_with_typed_outputs(fs: httpx.Client) -> None:
    response = fs.post(
        "/actions/quote",
        json={
            "token": "tok-1",
            "tenantId": "ten-1",
            "inputs": _inputs(),
            "configurationValues": [
                {"developerName": "greeting", "contentType": "ContentString", "contentValue": "hi"}
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-flowhost-execution-id"]
    body = response.json()
    assert body["invokeType"] == "FORWARD"
    assert (body["token"], body["tenantId"]) == ("tok-1", "ten-1")
    outputs = {o["developerName"]: (o["contentType"], o["contentValue"]) for o in body["outputs"]}
    assert outputs == {
        "total": ("ContentNumber", "37.5"),
        "sku": ("ContentString", "AB-100"),
        "greeting": ("ContentString", "hi"),
        "user": ("ContentString", "alice"),
    }


def test_config_default_applies_when_flow_sends_none(fs: httpx.Client) -> None:
    body = fs.post("/actions/quote", json={"inputs": _inputs()}).json()
    outputs = {o["developerName"]: o["contentValue"] for o in body["outputs"]}
    assert outputs["greeting"] == "hello"


def test_process_selects_an_outcome(fs: httpx.Client) -> None:
    offered = [{"id": "11111111-1111-1111-1111-111111111111", "developerName": "dear"}]
    body = fs.post(
        "/actions/choose", json={"inputs": _inputs(quantity="10"), "outcomes": offered}
    ).json()
    assert body["selectedOutcomeId"] == "11111111-1111-1111-1111-111111111111"
    cheap = fs.post("/actions/choose", json={"inputs": _inputs(quantity="1")}).json()
    assert cheap["selectedOutcomeId"]  # the id our describe gave "cheap"


def test_failing_step_names_process_and_step(fs: httpx.Client) -> None:
    message = _problem(fs.post("/actions/broken", json={"inputs": _inputs()}), 500)
    assert "process 'broken'" in message
    assert "processes.broken.steps[1]" in message
    assert "no stock for ab-100" in message
    assert "Traceback" not in message


def test_endless_process_is_stopped_by_its_deadline(fs: httpx.Client) -> None:
    message = _problem(fs.post("/actions/forever", json={"inputs": _inputs()}), 504)
    assert "process 'forever'" in message
    assert "deadline" in message
    # ...and the cluster keeps serving.
    assert fs.post("/actions/quote", json={"inputs": _inputs()}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "expected a JSON object"),
        (b'{"inputs": "sku"}', 400, "'inputs' must be a list"),
        (b"", 400, "empty"),
    ],
)
def test_malformed_bodies(fs: httpx.Client, body: bytes, status: int, words: str) -> None:
    response = fs.post("/actions/quote", content=body, headers={"content-type": "application/json"})
    assert words in _problem(response, status)


def test_inputs_that_do_not_match_the_profile(fs: httpx.Client) -> None:
    message = _problem(fs.post("/actions/quote", json={"inputs": _inputs(quantity="three")}), 400)
    assert "quantity" in message
    missing = _problem(fs.post("/actions/quote", json={"inputs": _inputs()[:2]}), 400)
    assert "unitPrice" in missing


def test_unknown_action_and_service(
    cluster: Cluster, fs: httpx.Client, user: tuple[str, str]
) -> None:
    assert "no action 'nope'" in _problem(fs.post("/actions/nope", json={}), 404)
    response = httpx.post(f"{cluster.url}/fs/missing/actions/quote", json={}, auth=user)
    assert "no service at /fs/missing" in _problem(response, 404)


def test_oversize_body_is_refused(fs: httpx.Client) -> None:
    big = b'{"inputs": [], "pad": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = fs.post("/actions/quote", content=big, headers={"content-type": "application/json"})
    assert "larger than the limit" in _problem(response, 413)


def test_credentials(cluster: Cluster, deployed: str, user: tuple[str, str]) -> None:
    url = f"{cluster.url}/fs/e2e/actions/quote"
    body = {"inputs": _inputs()}
    missing = httpx.post(url, json=body)
    assert "missing credentials" in _problem(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Basic")
    wrong = httpx.post(url, json=body, auth=(user[0], "not-the-token"))
    assert _problem(wrong, 401)
    garbled = httpx.post(url, json=body, headers={"authorization": "Basic %%%"})
    assert _problem(garbled, 401)
    bearer = httpx.post(url, json=body, headers={"authorization": "Bearer abc"})
    assert _problem(bearer, 401)
    good = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    assert httpx.post(url, json=body, headers={"authorization": f"Basic {good}"}).status_code == 200


def test_user_of_another_runtime_is_refused(cluster: Cluster, deployed: str) -> None:
    assert flowhost(cluster, "runtimes", "add", "other").returncode == 0
    result = flowhost(cluster, "users", "add", "bob", "--runtime", "other")
    assert result.returncode == 0, result.stderr
    token = result.stdout.split("token:")[1].strip()
    response = httpx.post(f"{cluster.url}/fs/e2e/actions/quote", json={}, auth=("bob", token))
    assert "runtime 'other'" in _problem(response, 403)


def test_invalid_package_is_refused_with_its_path(cluster: Cluster, tmp_path: Path) -> None:
    bad = PACKAGE.read_text().replace("'.'", "'.foo | bogus('")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    result = flowhost(cluster, "deploy", str(path), "--dry-run")
    assert result.returncode == 1
    assert "processes.broken.steps[0].map" in result.stderr
    assert "jq" in result.stderr


def test_immutable_versions_and_rollback(cluster: Cluster, deployed: str, tmp_path: Path) -> None:
    changed = tmp_path / "changed.yaml"
    changed.write_text(PACKAGE.read_text().replace("hello", "howdy"))
    conflict = flowhost(cluster, "deploy", str(changed))
    assert conflict.returncode == 1
    assert "immutable" in conflict.stderr
    changed.write_text(changed.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    assert flowhost(cluster, "deploy", str(changed)).returncode == 0
    versions = flowhost(cluster, "versions", "e2e")
    assert "1.0.0" in versions.stdout and "1.1.0" in versions.stdout
    rolled = flowhost(cluster, "rollback", "e2e")
    assert rolled.returncode == 0, rolled.stderr
    assert "now at 1.0.0" in rolled.stdout


def test_status_shows_ready_executors(cluster: Cluster, deployed: str) -> None:
    result = flowhost(cluster, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ready") >= 2
    assert "/fs/e2e" in result.stdout


def test_management_api_is_documented_and_guarded(cluster: Cluster) -> None:
    assert httpx.get(f"{cluster.url}/openapi.json").status_code == 401  # API_DOCS=admin
    spec = httpx.get(f"{cluster.url}/openapi.json", auth=admin_from(cluster.data_dir)).json()
    assert "/api/runtimes/{runtime}/packages" in spec["paths"]
    refused = httpx.get(f"{cluster.url}/api/status")
    assert refused.status_code == 401
    assert "management API" in refused.json()["message"]


def test_readme_curl_matches_the_example(cluster: Cluster) -> None:
    """The example package `up` deploys exists and validates."""
    result = flowhost(
        cluster, "deploy", str(ROOT / "flowhost" / "examples" / "shop.yaml"), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
