"""The management API against cross-site forms and password guessing, on a running cluster.

Rows of issue 12: "`POST /api/runtimes/R/packages` with `Content-Type: text/plain` or
form-encoded, any `Origin` → deploys; a bodiless form POST rotates a user's token; the API sends
`WWW-Authenticate: Basic`" and "300 wrong admin passwords in a row → all answered immediately".
"""

from __future__ import annotations

import time

import httpx
import pytest

from flowhost.client import admin_from
from flowhost.devcluster import Cluster
from tests.security.conftest import EXAMPLES, assert_serving

EVIL = {"Origin": "https://evil.example"}
PACKAGE = (
    'name: forged\nversion: "1"\nservice: {path: forged}\n'
    "processes:\n  p: {steps: [{return: {}}]}\n"
)


def _api(cluster: Cluster) -> str:
    return f"{cluster.url}/api/runtimes/{cluster.runtime}/packages"


def _versions(cluster: Cluster) -> list[str]:
    with cluster.client() as client:
        return [v["name"] for v in client.versions(cluster.runtime, None)]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", PACKAGE),
        ("application/x-www-form-urlencoded", "name=forged&version=1"),
        (
            "multipart/form-data; boundary=x",
            f"--x\r\nContent-Disposition: form-data\r\n\r\n{PACKAGE}",
        ),
    ],
)
def test_a_cross_site_form_cannot_deploy(
    cluster: Cluster, flow_auth: tuple[str, str], content_type: str, body: str
) -> None:
    """What a browser sends for an HTML form (with cached credentials) is refused: no header."""
    admin = admin_from(cluster.data_dir)
    form = httpx.post(
        _api(cluster),
        content=body.encode(),
        headers={**EVIL, "Content-Type": content_type},
        auth=admin,
    )
    assert form.status_code == 403, form.text
    assert form.json()["error"] == "client_header_required"
    assert "X-Flowhost-Client" in form.json()["message"]
    # Even with the header, only the documented type deploys.
    typed = httpx.post(
        _api(cluster),
        content=body.encode(),
        headers={"X-Flowhost-Client": "test", "Content-Type": content_type},
        auth=admin,
    )
    assert typed.status_code == 415, typed.text
    assert typed.json()["details"]["accepted"] == ["application/yaml"]
    assert "forged" not in _versions(cluster)
    assert_serving(cluster, flow_auth)


def test_a_bodiless_form_post_does_not_rotate_a_token(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    user, _ = flow_auth
    forged = httpx.post(
        f"{cluster.url}/api/users/{user}/token",
        headers={**EVIL, "Content-Type": "application/x-www-form-urlencoded"},
        auth=admin_from(cluster.data_dir),
    )
    assert forged.status_code == 403, forged.text
    assert_serving(cluster, flow_auth)  # the old token still works


def test_a_json_endpoint_refuses_other_content_types(cluster: Cluster) -> None:
    response = httpx.post(
        f"{cluster.url}/api/runtimes/{cluster.runtime}/users",
        content=b'{"name": "mallory"}',
        headers={"X-Flowhost-Client": "test", "Content-Type": "text/plain"},
        auth=admin_from(cluster.data_dir),
    )
    assert response.status_code == 415, response.text
    assert response.json()["details"]["accepted"] == ["application/json"]
    with cluster.client() as client:
        assert "mallory" not in [u["name"] for u in client.users(None)]


def test_the_api_sends_no_basic_auth_challenge(cluster: Cluster) -> None:
    for method, path in (("GET", "/api/status"), ("POST", "/api/users/flow/token")):
        response = httpx.request(
            method, f"{cluster.url}{path}", headers={"X-Flowhost-Client": "test"}
        )
        assert response.status_code == 401
        assert "www-authenticate" not in response.headers
        assert response.json()["error"] == "missing_credentials"


def test_the_api_docs_are_behind_the_admin_login(cluster: Cluster) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        response = httpx.get(f"{cluster.url}{path}")
        assert response.status_code == 401, path
        # Only here a browser is asked for the login, so a person can read the docs.
        assert response.headers["www-authenticate"].startswith("Basic")
    spec = httpx.get(f"{cluster.url}/openapi.json", auth=admin_from(cluster.data_dir))
    assert spec.status_code == 200
    deploy = spec.json()["paths"]["/api/runtimes/{runtime}/packages"]["post"]
    assert "X-Flowhost-Client" in [p["name"] for p in deploy["parameters"]]


def test_300_wrong_admin_passwords_are_throttled(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    user, password = admin_from(cluster.data_dir)
    statuses: list[int] = []
    retry_after: list[int] = []
    with httpx.Client(base_url=cluster.url, timeout=10) as attacker:
        for i in range(300):
            response = attacker.get("/api/status", auth=(user, f"guess-{i}"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry_after.append(int(response.headers["retry-after"]))
                assert response.json()["error"] == "too_many_failed_logins"
    assert statuses[:5] == [401] * 5  # LOGIN_FAILURES_FREE
    assert statuses.count(429) > 250
    assert set(statuses) == {401, 429}
    assert min(retry_after) >= 1
    # The right password from the locked-out address waits too: the lockout cannot be probed.
    # The last lockout may be about to end, so guess on until one has over a second left.
    with httpx.Client(base_url=cluster.url, timeout=10) as same:
        deadline = time.monotonic() + 30
        while not _locked_for_over_a_second(same.get("/api/status", auth=(user, "guess"))):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert same.get("/api/status", auth=(user, password)).status_code == 429
    # Another address is not slowed at all.
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=cluster.url, transport=other, timeout=10) as admin:
        assert admin.get("/api/status", auth=(user, password)).status_code == 200
    assert_serving(cluster, flow_auth)  # Flow's users are not the admin: they are unaffected
    # Once the lockout is over, the right password works, and clears the address.
    with httpx.Client(base_url=cluster.url, timeout=10) as same:
        deadline = time.monotonic() + 70
        while (answer := same.get("/api/status", auth=(user, password))).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(int(answer.headers["retry-after"]))
        assert answer.status_code == 200
        assert same.get("/api/status", auth=(user, "wrong")).status_code == 401


def _locked_for_over_a_second(response: httpx.Response) -> bool:
    return response.status_code == 429 and int(response.headers["retry-after"]) >= 2


def test_the_cli_still_deploys(cluster: Cluster) -> None:
    """The CLI sends the header and the documented type: a real deploy goes through."""
    with cluster.client() as client:
        result = client.deploy(cluster.runtime, (EXAMPLES / "shop.yaml").read_text(), False)
    assert result["name"] == "shop"
