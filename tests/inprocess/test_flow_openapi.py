"""The Flow endpoints are in /openapi.json, and what they answer fits what it says."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import schemathesis

from tests.inprocess.conftest import InProcessCluster


async def _document(cluster: InProcessCluster) -> dict[str, Any]:
    response = await cluster.api.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _fits(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Validate ``instance`` against a documented schema, its $refs into the document's."""
    rooted = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(rooted).validate(instance)


async def test_the_document_lists_every_flow_endpoint(cluster: InProcessCluster) -> None:
    document = await _document(cluster)
    schemathesis.openapi.from_dict(document)  # a document schemathesis reads is well-formed
    flow = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/fs/")
        for method in operations
    }
    assert flow == {
        ("POST", "/fs/{service}/metadata"),
        ("GET", "/fs/{service}/metadata"),
        ("POST", "/fs/{service}/metadata/install"),
        ("POST", "/fs/{service}/actions/{action}"),
        ("POST", "/fs/{service}/data"),
        ("PUT", "/fs/{service}/data"),
        ("POST", "/fs/{service}/data/delete"),
        ("POST", "/fs/{service}/file"),
        ("POST", "/fs/{service}/file/content"),
        ("GET", "/fs/{service}/file/download/{link}"),
        ("GET", "/fs/{service}/health"),
    }
    assert document["components"]["securitySchemes"]["runtimeUser"]["scheme"] == "basic"


@pytest.mark.parametrize(
    ("method", "template", "path"),
    [
        ("POST", "/fs/{service}/metadata", "/fs/shop/metadata"),
        ("GET", "/fs/{service}/metadata", "/fs/shop/metadata"),
        ("POST", "/fs/{service}/metadata/install", "/fs/shop/metadata/install"),
        ("POST", "/fs/{service}/actions/{action}", "/fs/shop/actions/quote"),
        ("POST", "/fs/{service}/data", "/fs/shop/data"),  # shop has none: a ServiceProblem
        ("GET", "/fs/{service}/health", "/fs/shop/health"),
    ],
)
async def test_the_documented_example_gets_the_documented_answer(
    cluster: InProcessCluster, method: str, template: str, path: str
) -> None:
    document = await _document(cluster)
    operation = document["paths"][template][method.lower()]
    request = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.request(method, path, json=request.get("example"))
    status = str(response.status_code)
    documented = operation["responses"].get(status) or operation["responses"][f"{status[0]}XX"]
    _fits(document, documented["content"]["application/json"]["schema"], response.json())
    if template.endswith("/actions/{action}"):
        assert status == "200", response.text  # the example is a real request of the example
        assert response.json()["invokeType"] == "FORWARD"


async def test_the_examples_fit_their_own_schemas(cluster: InProcessCluster) -> None:
    document = await _document(cluster)
    checked = 0
    for path, operations in document["paths"].items():
        if not path.startswith("/fs/"):
            continue
        for operation in operations.values():
            bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
            for body in bodies:
                media = body.get("content", {}).get("application/json", {})
                if "example" in media:
                    _fits(document, media["schema"], media["example"])
                    checked += 1
    assert checked >= 10
