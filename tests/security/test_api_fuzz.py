"""Schemathesis against the management API's own OpenAPI, on a running cluster.

Every operation gets a small, fixed budget of generated requests (valid and invalid parameters
and bodies; deploys reach a real executor's validation). Each answer must be no 5xx other than
the documented ones, have a documented status, content type, headers and body shape. The cluster
serves afterwards. Bugs it found are kept as plain tests below (`test_found_*`), so they stay
fixed whatever the generator draws next time.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from flowhost.client import CLIENT_HEADERS, admin_from
from flowhost.devcluster import Cluster
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.security.conftest import EXAMPLES, assert_serving

# Answers the API documents for a cluster state, not for a bad request: a deploy finds no
# executor of an unknown runtime (503). Any other 5xx fails.
DOCUMENTED_5XX = {("POST", "/api/runtimes/{runtime}/packages"): {502, 503}}
EXAMPLES_PER_OPERATION = 6
CHECKS = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _operations() -> list[tuple[str, str]]:
    """Every management operation the application describes, routers added later included."""
    app = create_app(
        GatewaySettings(
            admin_password="unused", api_docs="public", link_token="schema-only-cluster-token"
        )
    )
    paths: dict[str, dict[str, Any]] = app.api.openapi()["paths"]
    # The /fs/ endpoints are Flow's (tests/security/test_flow_fuzz.py fuzzes those).
    return [
        (method.upper(), path)
        for path, ops in paths.items()
        if path.startswith("/api/")
        for method in ops
    ]


@pytest.fixture(scope="module")
def api_schema(cluster: Cluster) -> Any:
    spec = httpx.get(f"{cluster.url}/openapi.json", auth=admin_from(cluster.data_dir)).json()
    return schemathesis.openapi.from_dict(spec)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_the_management_api_keeps_its_contract(
    cluster: Cluster, api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method.lower()]
    auth = httpx.BasicAuth(*admin_from(cluster.data_dir))._auth_header
    allowed = DOCUMENTED_5XX.get((method, path), set())

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same requests every run: CI is repeatable
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Any) -> None:
        headers = {**CLIENT_HEADERS, "Authorization": auth}
        response = case.call(base_url=cluster.url, headers=headers, timeout=30)
        assert response.status_code < 500 or response.status_code in allowed, (
            f"{method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
        )
        case.validate_response(response, checks=CHECKS)

    try:
        one()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{method} {path} has no parameter or body to make invalid")
        raise


def test_the_cluster_serves_after_the_fuzzing(cluster: Cluster) -> None:
    """The fuzzing may have removed users or undeployed packages: restore, then serve."""
    with cluster.client() as client:
        if "flow" in {u["name"] for u in client.users(None)}:
            client.remove_user("flow")
        token = client.add_user(cluster.runtime, "flow")["token"]
        client.deploy(cluster.runtime, (EXAMPLES / "shop.yaml").read_text(), False)
    assert_serving(cluster, ("flow", token))


@pytest.mark.parametrize(
    ("method", "url", "template", "body"),
    [
        ("GET", "/api/executions/0", "/api/executions/{execution_id}", None),
        ("GET", "/api/executions?since=%C2%A8", "/api/executions", None),
        ("POST", "/api/callbacks/0/redeliver", "/api/callbacks/{callback_id}/redeliver", None),
        ("POST", "/api/users/%C3%93%C3%91/token", "/api/users/{name}/token", None),
        ("DELETE", "/api/users/%C3%93%C3%91", "/api/users/{name}", None),
        (
            "POST",
            "/api/runtimes/%C3%B8%3E/users",
            "/api/runtimes/{runtime}/users",
            b'{"name": "x"}',
        ),
        ("PUT", "/api/history", "/api/history", b"\xff\x03\x1cNJj"),  # not UTF-8
    ],
)
def test_found_statuses_that_were_undocumented(
    cluster: Cluster, api_schema: Any, method: str, url: str, template: str, body: bytes | None
) -> None:
    """Requests the fuzzing found answered with a status the OpenAPI did not list (ST103)."""
    typed = {"Content-Type": "application/json"} if body is not None else {}
    response = httpx.request(
        method,
        f"{cluster.url}{url}",
        content=body,
        headers={**CLIENT_HEADERS, **typed},
        auth=admin_from(cluster.data_dir),
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code != 415, response.text
    documented = api_schema.raw_schema["paths"][template][method.lower()]["responses"]
    assert str(response.status_code) in documented
