"""Every answer of the management application is a JSON problem, even the unexpected ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings

ADMIN = ("admin", "secret")
CLIENT = {"X-Flowhost-Client": "test"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        admin_password=ADMIN[1],
        history_writer_process=False,
        link_token="api-errors-cluster-token",
    )
    app = create_app(settings)

    async def broken() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    # A route that fails the way an unforeseen bug would, to see what its caller gets.
    app.api.add_api_route("/api/broken", broken, methods=["GET"])
    async with app.api.router.lifespan_context(app.api):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_an_unexpected_error_is_a_json_500(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/broken", auth=ADMIN)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "internal",
        "message": "internal error; see the gateway log",
    }


async def test_unknown_paths_methods_and_bad_fields_are_problems(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/api/nothing-here", auth=ADMIN)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_endpoint")
    wrong = await api.patch("/api/status", auth=ADMIN, headers=CLIENT)
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    invalid = await api.post(
        "/api/runtimes/default/users", json={"name": "a:b"}, auth=ADMIN, headers=CLIENT
    )
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["error"] == "invalid_request"
    assert body["details"]["issues"][0]["path"] == "body.name"
    assert "a:b" not in body["message"]  # what was sent is not echoed back


async def test_a_route_added_later_is_guarded_with_no_code(tmp_path: Path) -> None:
    app = create_app(
        GatewaySettings(
            data_dir=tmp_path, admin_password=ADMIN[1], link_token="api-errors-cluster-token"
        )
    )

    async def change(payload: dict[str, int]) -> dict[str, int]:
        return payload

    app.api.add_api_route("/api/later", change, methods=["POST"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        forged = await client.post(
            "/api/later", content=b"a=1", headers={"Content-Type": "text/plain"}
        )
        assert forged.status_code == 403
        typed = await client.post(
            "/api/later", content=b"a=1", headers={**CLIENT, "Content-Type": "text/plain"}
        )
        assert typed.status_code == 415
        ok = await client.post("/api/later", json={"a": 1}, headers=CLIENT)
        assert ok.json() == {"a": 1}
