"""A message action through the real gateway app and a real executor: route, authenticate,
resolve, translate, call, translate back; and the refusals along the way."""

from __future__ import annotations

from typing import Any

from tests.inprocess.conftest import InProcessCluster

QUOTE = {
    "inputs": [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
    ]
}


def _outputs(body: dict[str, Any]) -> dict[str, Any]:
    return {o["developerName"]: o["contentValue"] for o in body["outputs"]}


async def test_a_message_action_is_answered_forward(cluster: InProcessCluster) -> None:
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/shop/actions/quote", json=QUOTE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invokeType"] == "FORWARD"
    assert _outputs(body) == {"total": "37.5", "sku": "AB-100"}


async def test_describe_lists_the_actions(cluster: InProcessCluster) -> None:
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/shop/metadata", json={})
    assert response.status_code == 200, response.text
    names = {action["developerName"] for action in response.json()["actions"]}
    assert {"quote", "triage"} <= names


async def test_an_unknown_action_is_a_service_problem(cluster: InProcessCluster) -> None:
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/shop/actions/nope", json=QUOTE)
    assert response.status_code == 404
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    assert "nope" in response.json()["message"]


async def test_a_wrong_token_is_refused(cluster: InProcessCluster) -> None:
    name, _ = await cluster.user()
    async with cluster.flow((name, "not-the-token")) as flow:
        response = await flow.post("/fs/shop/actions/quote", json=QUOTE)
    assert response.status_code == 401


async def test_a_user_of_another_runtime_may_not_call_the_service(
    cluster: InProcessCluster,
) -> None:
    assert (await cluster.api.post("/api/runtimes/elsewhere")).status_code == 201
    async with cluster.flow(await cluster.user("other", runtime="elsewhere")) as flow:
        response = await flow.post("/fs/shop/actions/quote", json=QUOTE)
    assert response.status_code == 403
    assert response.headers["x-manywho-service-problem-kind"] == "service"
