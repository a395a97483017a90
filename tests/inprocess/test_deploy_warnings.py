"""Deploy warnings: returned by the real API for a valid package, never blocking unless strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inprocess.conftest import EXAMPLES, InProcessCluster

PACKAGE = """
name: warned
version: 1.0.0
service:
  path: warned
  profiles:
    Order: {type: object, properties: {id: {type: string}}}
    Address: {type: object, properties: {city: {type: string}}}
    Leftover: {type: object, properties: {x: {type: string}}}
    Customer:
      type: object
      properties:
        home: {$ref: Address}
  actions:
    - {name: save, process: save, request: Order}
    - {name: route, process: route, request: Order, outcomes: [big, small]}
    - {name: greet, process: greet, request: Customer}
processes:
  save:
    steps:
      - map: '{id}'
  route:
    steps:
      - decision:
          if: '.id == "1"'
          then:
            - return: {outcome: '"big"'}
          else:
            - return: {outcome: 'if .id == "2" then "small" else "huge" end'}
  greet:
    steps:
      - call: helper
      - return: {}
  helper:
    steps:
      - return: {}
  forgotten:
    steps:
      - return: {}
"""

EXPECTED = [
    {
        "path": "service.actions[0]",
        "message": "process 'save' has no return step: action 'save' answers no outputs and "
        "no outcome",
    },
    {
        "path": "processes.route.steps[0].decision.else[0].return.outcome",
        "message": "outcome 'huge' is not one of action 'route''s outcomes (big, small)",
    },
    {"path": "service.profiles.Leftover", "message": "profile 'Leftover' is not used"},
    {"path": "processes.forgotten", "message": "process 'forgotten' is never run or called"},
]


async def _deploy(cluster: InProcessCluster, source: str, **params: str) -> tuple[int, Any]:
    response = await cluster.api.post(
        "/api/runtimes/default/packages",
        content=source.encode(),
        headers={"content-type": "application/yaml"},
        params=params,
    )
    return response.status_code, response.json()


async def test_a_valid_package_deploys_with_its_warnings(cluster: InProcessCluster) -> None:
    status, body = await _deploy(cluster, PACKAGE)
    assert status in (200, 201), body
    assert body["warnings"] == EXPECTED
    # Deployed all the same: the action without a return answers, with no outputs.
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/warned/actions/save", json={"inputs": []})
    assert response.status_code == 200, response.text


async def test_strict_refuses_a_package_with_warnings_and_stores_nothing(
    cluster: InProcessCluster,
) -> None:
    status, body = await _deploy(cluster, PACKAGE, strict="true")
    assert status == 422, body
    assert body["error"] == "package_warnings"
    assert body["details"]["issues"] == EXPECTED
    versions = (await cluster.api.get("/api/runtimes/default/packages")).json()
    assert "warned" not in {v["name"] for v in versions}


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
async def test_the_examples_have_no_warnings(cluster: InProcessCluster, example: Path) -> None:
    source = example.read_text()  # noqa: ASYNC240 (a small file, read once)
    status, body = await _deploy(cluster, source, strict="true", dry_run="true")
    assert status == 200, body
    assert body["warnings"] == []
