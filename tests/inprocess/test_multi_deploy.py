"""Runtime labels and deploying one version to many runtimes (issue 15): labels are validated
and listed, `where` selects runtimes by them, each runtime is deployed all-or-nothing and one
without an executor fails alone. A real gateway application and a real executor per runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from executors.server import ExecutorServer
from flowhost.client import CLIENT_HEADERS
from gateway.app import create_app
from gateway.store import Store
from gateway.store.labels import LabelStore
from gateway.store.schema import canaries, runtime_labels
from tests.inprocess.conftest import ADMIN, executor_settings, gateway_settings
from tests.inprocess.test_canary import package, version_of


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with one executor in runtime eu and one in us (none in asia)."""
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(ExecutorServer(executor_settings(runtime=r)))
            for r in ("eu", "us")
        ]
        app = create_app(gateway_settings(tmp_path, servers, runtime_labels_max=4))
        await stack.enter_async_context(app.api.router.lifespan_context(app.api))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://gateway",
                auth=ADMIN,
                headers=CLIENT_HEADERS,
            )
        )
        for runtime, labels in [
            ("eu", ["tier=prod", "customer=acme"]),
            ("us", ["tier=prod", "customer=acme"]),
            ("asia", ["tier=prod", "customer=acme"]),
            ("lab", ["tier=test"]),
        ]:
            created = await client.post(f"/api/runtimes/{runtime}", params={"label": labels})
            assert created.status_code == 201, created.text
        yield client


async def deploy(api: httpx.AsyncClient, source: str, **params: Any) -> httpx.Response:
    return await api.post(
        "/api/deployments",
        content=source.encode(),
        headers={"content-type": "application/yaml"},
        params=params,
    )


async def labels_of(api: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    return {r["name"]: r["labels"] for r in (await api.get("/api/runtimes")).json()}


async def test_labels_are_set_removed_listed_and_validated(api: httpx.AsyncClient) -> None:
    assert (await labels_of(api))["lab"] == {"tier": "test"}
    changed = await api.patch(
        "/api/runtimes/lab/labels",
        json={"set": {"customer": "globex", "example.com/zone": "b-2"}, "remove": ["tier"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["labels"] == {"customer": "globex", "example.com/zone": "b-2"}
    assert (await labels_of(api))["lab"] == {"customer": "globex", "example.com/zone": "b-2"}

    for bad, named in [
        ({"set": {"-tier": "x"}}, "-tier"),
        ({"set": {"tier": "has space"}}, "has space"),
        ({"set": {"t" * 64: "x"}}, "t" * 64),
        ({"set": {"Bad_Prefix/tier": "x"}}, "Bad_Prefix/tier"),
    ]:
        refused = await api.patch("/api/runtimes/lab/labels", json=bad)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_label"
        assert named in refused.json()["message"]
    too_many = await api.patch(
        "/api/runtimes/lab/labels", json={"set": {"a": "1", "b": "2", "c": "3"}}
    )
    assert too_many.status_code == 400
    assert "FLOWHOST_RUNTIME_LABELS_MAX" in too_many.json()["message"]
    unknown = await api.patch("/api/runtimes/nowhere/labels", json={"set": {"a": "1"}})
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_runtime"
    not_key_value = await api.post("/api/runtimes/x", params={"label": "tier"})
    assert not_key_value.status_code == 400 and "key=value" in not_key_value.json()["message"]
    assert "x" not in await labels_of(api)  # refused before anything was created


async def test_one_call_deploys_to_every_selected_runtime_and_reports_each(
    api: httpx.AsyncClient,
) -> None:
    answer = await deploy(api, package("1.0.0"), where=["customer=acme", "tier=prod"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    results = {r["runtime"]: r for r in body["results"]}
    assert {r: v["result"] for r, v in results.items()} == {
        "asia": "failed",
        "eu": "deployed",
        "us": "deployed",
    }
    assert results["asia"]["code"] == "no_executor" and "asia" in results["asia"]["reason"]
    assert results["eu"]["executors"] and results["us"]["executors"]
    assert body["failed"] == 1 and body["version"] == "1.0.0"
    served = {
        r["name"]: [s["version"] for s in r["services"]]
        for r in (await api.get("/api/runtimes")).json()
    }
    assert served["eu"] == served["us"] == ["1.0.0"] and served["asia"] == []

    for runtime in ("eu", "us"):
        user = await api.post(f"/api/runtimes/{runtime}/users", json={"name": f"flow-{runtime}"})
        auth = (f"flow-{runtime}", user.json()["token"])
        async with httpx.AsyncClient(
            transport=api._transport, base_url="http://gateway", auth=auth
        ) as flow:
            answered = await flow.post("/fs/hello/actions/hello", json={})
            assert version_of(answered.json()) == "1.0.0"

    # Named runtimes and selectors add up; a runtime named twice is deployed once.
    named = await deploy(api, package("1.1.0"), runtime=["lab", "eu"], where=["tier=prod"])
    assert [r["runtime"] for r in named.json()["results"]] == ["lab", "eu", "asia", "us"]
    nothing = await deploy(api, package("1.1.0"), where=["customer=initech"])
    assert nothing.status_code == 404, nothing.text
    assert nothing.json()["error"] == "no_runtime_matches"
    assert "customer=initech" in nothing.json()["message"]
    conflicting = await deploy(api, package("1.1.0"), where=["tier=prod", "tier=test"])
    assert conflicting.status_code == 400 and conflicting.json()["error"] == "invalid_label"
    none = await deploy(api, package("1.1.0"))
    assert none.status_code == 400 and none.json()["error"] == "no_runtimes"
    invalid = await deploy(api, "name: hello\n", runtime=["eu", "us"])
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_package"


def test_a_database_made_before_labels_and_canaries_gains_their_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with Store(url) as store:
        for table in (runtime_labels, canaries):
            table.drop(store.engine)
        store.add_runtime("eu")
    with Store(url) as store:
        assert store.has_runtime("eu")
        assert store.canaries() == []
        assert LabelStore(store).change("eu", {"tier": "prod"}) == {"tier": "prod"}
