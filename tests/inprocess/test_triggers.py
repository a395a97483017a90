"""Webhook and schedule triggers on a real gateway application and a real executor.

The package is the complete example of docs/packages.md "Triggers", deployed as written.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
import schemathesis

from gateway.triggers.signature import sign
from tests.inprocess.conftest import ROOT, InProcessCluster, in_process_cluster

SECRET = "s3cret-for-webhooks"
ORDER = {"id": "A-1", "quantity": 2, "price": 5}


def docs_example() -> str:
    text = (ROOT / "docs" / "packages.md").read_text()
    match = re.search(r"```yaml triggers-example\n(.*?)```", text, re.S)
    assert match, "docs/packages.md lost its triggers example"
    return match.group(1)


def webhook_only(source: str) -> str:
    """The example without its subscribe trigger (tests/e2e/test_subscribe.py has it)."""
    return source.split("  - name: events")[0]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[InProcessCluster]:
    async with in_process_cluster(tmp_path) as running:
        await running.deploy(webhook_only(docs_example()))
        response = await running.api.put(
            "/api/runtimes/default/config/webhookSecret", json={"value": SECRET, "secret": True}
        )
        assert response.status_code == 200, response.text
        await asyncio.sleep(0)  # the control plane reloads the configuration at once
        yield running


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return {"content-type": "application/json", "x-flowhost-signature": sign(secret, body, stamp)}


async def post(
    cluster: InProcessCluster, name: str, body: bytes, headers: dict[str, str], **kw: Any
) -> httpx.Response:
    async with cluster.flow(kw.pop("auth", None)) as client:  # type: ignore[arg-type]
        return await client.post(f"/hooks/default/orders/{name}", content=body, headers=headers)


async def history(cluster: InProcessCluster, kind: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        response = await cluster.api.get("/api/executions", params={"kind": kind})
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


async def test_a_signed_webhook_answers_with_the_process_result_and_is_in_the_history(
    cluster: InProcessCluster,
) -> None:
    body = orjson.dumps(ORDER)
    response = await post(cluster, "new-order", body, signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"order": "A-1", "total": 10, "trigger": "new-order"}
    execution_id = response.headers["x-flowhost-execution"]
    rows = await history(cluster, "webhook", 1)
    assert [(r["id"], r["action"], r["status"]) for r in rows] == [
        (execution_id, "new-order", "ok")
    ]


async def test_an_async_webhook_answers_202_with_the_execution_id_that_then_runs(
    cluster: InProcessCluster,
) -> None:
    body = orjson.dumps(ORDER)
    response = await post(cluster, "new-order-later", body, signed(body))
    assert response.status_code == 202, response.text
    execution_id = response.json()["executionId"]
    rows = await history(cluster, "webhook", 1)
    assert [(r["id"], r["status"]) for r in rows] == [(execution_id, "ok")]


async def test_a_runtime_user_may_call_without_a_signature(cluster: InProcessCluster) -> None:
    user = await cluster.user()
    body = orjson.dumps(ORDER)
    response = await post(
        cluster, "new-order", body, {"content-type": "application/json"}, auth=user
    )
    assert response.status_code == 200, response.text
    wrong = await post(
        cluster, "new-order", body, {"content-type": "application/json"}, auth=(user[0], "nope")
    )
    assert wrong.status_code == 401, wrong.text


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"content-type": "application/json"}, 401, "missing_signature"),
        ({"x-flowhost-signature": "v1=abc"}, 401, "malformed_signature"),
        ("wrong-secret", 401, "bad_signature"),
        ("stale", 401, "stale_signature"),
        ("tampered", 401, "bad_signature"),
        ("text", 415, "unsupported_media_type"),
        ("not-json", 400, "invalid_json"),
    ],
)
async def test_refusals_are_precise(
    cluster: InProcessCluster, headers: Any, status: int, code: str
) -> None:
    body = orjson.dumps(ORDER)
    sent = body
    if headers == "wrong-secret":
        headers = signed(body, secret="another")
    elif headers == "stale":
        headers = signed(body, at=time.time() - 301)
    elif headers == "tampered":
        headers, sent = signed(body), body.replace(b"2", b"9")
    elif headers == "text":
        headers = {**signed(body), "content-type": "text/plain"}
    elif headers == "not-json":
        sent = b"{not json"
        headers = signed(sent)
    headers.setdefault("content-type", "application/json")
    response = await post(cluster, "new-order", sent, headers)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert await history(cluster, "webhook", 0) == []  # nothing ran


async def test_unknown_triggers_big_bodies_and_wrong_methods(cluster: InProcessCluster) -> None:
    body = orjson.dumps(ORDER)
    response = await post(cluster, "no-such", body, signed(body))
    assert (response.status_code, response.json()["error"]) == (404, "unknown_trigger")
    assert "no webhook trigger 'no-such' of package 'orders'" in response.json()["message"]
    nightly = await post(cluster, "nightly", body, signed(body))  # a schedule, not a webhook
    assert nightly.status_code == 404
    big = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    too_large = await post(cluster, "new-order", big, signed(big))
    assert too_large.status_code == 413, too_large.text
    async with cluster.flow(None) as client:  # type: ignore[arg-type]
        got = await client.get("/hooks/default/orders/new-order")
    assert (got.status_code, got.json()["error"]) == (405, "method_not_allowed")


async def test_the_api_document_describes_the_webhook_as_it_answers(
    cluster: InProcessCluster,
) -> None:
    document = (await cluster.api.get("/openapi.json")).json()
    schemathesis.openapi.from_dict(document)  # still a well-formed document
    operation = document["paths"]["/hooks/{runtime}/{package}/{trigger}"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["runtime", "package", "trigger"]
    scheme = document["components"]["securitySchemes"]["webhookSignature"]
    assert (scheme["in"], scheme["name"]) == ("header", "X-Flowhost-Signature")
    body = orjson.dumps(ORDER)
    answers = [
        await post(cluster, "new-order", body, signed(body)),
        await post(cluster, "new-order-later", body, signed(body)),
        await post(cluster, "new-order", body, signed(body, secret="another")),
        await post(cluster, "no-such", body, signed(body)),
    ]
    assert [a.status_code for a in answers] == [200, 202, 401, 404]
    for answer in answers:
        documented = operation["responses"][str(answer.status_code)]
        if "headers" in documented:
            assert "x-flowhost-execution" in answer.headers
        media = documented["content"].get("application/json")
        if media is not None and answer.status_code != 200:
            rooted = {**media["schema"], "components": document["components"]}
            jsonschema.Draft202012Validator(rooted).validate(answer.json())


async def test_a_paused_webhook_answers_503_with_retry_after_until_resumed(
    cluster: InProcessCluster,
) -> None:
    ref = {"runtime": "default", "service": "orders#new-order"}
    paused = await cluster.api.post("/api/listeners/pause", json={**ref, "retry_after_s": 7})
    assert paused.status_code == 200, paused.text
    body = orjson.dumps(ORDER)
    response = await post(cluster, "new-order", body, signed(body))
    assert (response.status_code, response.json()["error"]) == (503, "listener_paused")
    assert response.headers["retry-after"] == "7"
    other = await post(cluster, "new-order-later", body, signed(body))
    assert other.status_code == 202  # only that trigger is paused
    assert (await cluster.api.post("/api/listeners/resume", json=ref)).status_code == 200
    assert (await post(cluster, "new-order", body, signed(body))).status_code == 200


async def test_status_lists_the_triggers_with_state_and_counts(cluster: InProcessCluster) -> None:
    body = orjson.dumps(ORDER)
    assert (await post(cluster, "new-order", body, signed(body))).status_code == 200
    response = await cluster.api.get("/api/triggers", params={"runtime": "default"})
    assert response.status_code == 200, response.text
    rows = {t["name"]: t for t in response.json()}
    assert set(rows) == {"new-order", "new-order-later", "nightly"}
    assert rows["new-order"]["kind"] == "webhook"
    assert rows["new-order"]["fired"] == 1
    assert rows["new-order"]["last_fired_at"] is not None
    assert rows["nightly"]["state"] == "active"
    assert rows["nightly"]["next_due_at"] is not None
    metrics = (await cluster.api.get("/metrics")).text
    assert (
        'flowhost_trigger_executions_total{kind="webhook",package="orders",runtime="default",'
        'status="ok",trigger="new-order"} 1.0'
    ) in metrics


RAW = """
name: raw
version: "1"
service: {path: raw}
processes:
  keep:
    steps:
      - return: {}
triggers:
  - {name: upload, process: keep, webhook: {body: raw, max_body_bytes: 64}}
"""


async def test_a_raw_webhook_takes_any_content_and_bounds_its_size(
    cluster: InProcessCluster,
) -> None:
    await cluster.deploy(RAW)
    user = await cluster.user("uploader")
    async with cluster.flow(user) as client:
        sent = await client.post(
            "/hooks/default/raw/upload", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"}
        )
        assert sent.status_code == 200, sent.text
        assert sent.content == b"a,b\n1,2\n"
        big = await client.post("/hooks/default/raw/upload", content=b"x" * 65)
        assert (big.status_code, big.json()["error"]) == (413, "payload_too_large")
        assert "limit of 64 bytes" in big.json()["message"]
