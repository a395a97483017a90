"""Profiles with local `$ref`: deployed through the real API, described and called over /fs/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess.conftest import InProcessCluster

PACKAGE = """
name: refs
version: 1.0.0
service:
  path: refs
  profiles:
    Address:
      type: object
      properties:
        street: {type: string}
        city: {type: string}
    Order:
      type: object
      $defs:
        Line:
          type: object
          properties:
            sku: {type: string}
            quantity: {type: integer}
      definitions:
        Money: {type: number, description: an amount}
      properties:
        id: {type: string}
        billing: {$ref: Address}
        shipping: {$ref: Address, description: where it goes}
        lines: {type: array, items: {$ref: '#/$defs/Line'}}
        total: {$ref: '#/definitions/Money'}
  actions:
    - {name: echo, process: echo, request: Order, response: Order}
processes:
  echo:
    steps:
      - return: {}
"""


def _mobject(type_name: str, **props: Any) -> dict[str, Any]:
    properties = []
    for name, v in props.items():
        if isinstance(v, dict):
            properties.append({"developerName": name, "contentValue": None, "objectData": [v]})
        elif isinstance(v, list):
            properties.append({"developerName": name, "contentValue": None, "objectData": v})
        else:
            properties.append({"developerName": name, "contentValue": v, "objectData": None})
    return {"externalId": None, "developerName": type_name, "properties": properties}


async def test_a_referenced_object_is_one_flow_type_with_a_stable_name(
    cluster: InProcessCluster,
) -> None:
    await cluster.deploy(PACKAGE)
    async with cluster.flow(await cluster.user()) as flow:
        described = (await flow.post("/fs/refs/metadata", json={})).json()
    types = {t["developerName"]: t for t in described["install"]["typeElements"]}
    # Billing and shipping are both the profile Address: one type, not two per property.
    assert sorted(types) == ["Address", "Order - Line"]
    assert [p["developerName"] for p in types["Address"]["properties"]] == ["street", "city"]
    (action,) = described["actions"]
    inputs = {i["developerName"]: i for i in action["serviceInputs"]}
    assert inputs["billing"]["typeElementDeveloperName"] == "Address"
    assert inputs["shipping"]["typeElementDeveloperName"] == "Address"
    assert inputs["lines"]["contentType"] == "ContentList"
    assert inputs["lines"]["typeElementDeveloperName"] == "Order - Line"
    assert inputs["total"]["contentType"] == "ContentNumber"


async def test_values_of_referenced_types_travel_both_ways(cluster: InProcessCluster) -> None:
    await cluster.deploy(PACKAGE)
    request = {
        "inputs": [
            {"developerName": "id", "contentType": "ContentString", "contentValue": "o-1"},
            {
                "developerName": "billing",
                "contentType": "ContentObject",
                "contentValue": None,
                "objectData": [_mobject("Address", street="Main 1", city="Bern")],
            },
            {
                "developerName": "lines",
                "contentType": "ContentList",
                "contentValue": None,
                "objectData": [_mobject("Order - Line", sku="a", quantity="2")],
            },
            {"developerName": "total", "contentType": "ContentNumber", "contentValue": "9.5"},
        ]
    }
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/refs/actions/echo", json=request)
    assert response.status_code == 200, response.text
    outputs = {o["developerName"]: o for o in response.json()["outputs"]}
    (billing,) = outputs["billing"]["objectData"]
    assert billing["developerName"] == "Address"
    assert {p["developerName"]: p["contentValue"] for p in billing["properties"]} == {
        "street": "Main 1",
        "city": "Bern",
    }
    (line,) = outputs["lines"]["objectData"]
    assert line["developerName"] == "Order - Line"
    assert outputs["total"]["contentValue"] == "9.5"


def _with_profiles(profiles: str) -> str:
    return f"""
name: bad
version: 1.0.0
service:
  path: bad
  profiles:
{profiles}
  actions:
    - {{name: a, process: p, request: Node}}
processes:
  p:
    steps:
      - return: {{}}
"""


@pytest.mark.parametrize(
    ("profiles", "path", "message"),
    [
        (
            """
    Node:
      type: object
      properties:
        next: {$ref: Node}
""",
            "service.profiles.Node.properties.next.$ref",
            "$ref cycle: Node → Node",
        ),
        (
            """
    Node:
      type: object
      properties:
        link: {$ref: '#/$defs/Link'}
      $defs:
        Link:
          type: object
          properties:
            to: {$ref: Other}
    Other:
      type: object
      properties:
        back: {$ref: 'Node#/$defs/Link'}
""",
            "service.profiles.Node.properties.link.properties.to.properties.back.$ref",
            "$ref cycle: Node#/$defs/Link → Other → Node#/$defs/Link",
        ),
        (
            """
    Node:
      type: object
      properties:
        x: {$ref: 'https://example.com/schema.json'}
""",
            "service.profiles.Node.properties.x.$ref",
            "is not local: only #/$defs/…, #/definitions/… or a profile name",
        ),
        (
            """
    Node:
      type: object
      properties:
        x: {$ref: Nowhere}
""",
            "service.profiles.Node.properties.x.$ref",
            "the package has no profile 'Nowhere' (profiles: Node)",
        ),
        (
            """
    Node:
      type: object
      properties:
        x: {$ref: '#/$defs/Missing'}
""",
            "service.profiles.Node.properties.x.$ref",
            "points at nothing (no '$defs')",
        ),
    ],
    ids=["self", "through-another-profile", "remote", "unknown-profile", "dangling"],
)
async def test_bad_references_are_refused_at_deploy_with_their_path(
    cluster: InProcessCluster, profiles: str, path: str, message: str
) -> None:
    response = await cluster.api.post(
        "/api/runtimes/default/packages",
        content=_with_profiles(profiles).encode(),
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 422, response.text
    issues = response.json()["details"]["issues"]
    assert any(i["path"] == path and message in i["message"] for i in issues), issues
