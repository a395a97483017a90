"""FLOWHOST_API_DOCS: the API's docs public, behind the admin login, or off (in-process app)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings

ADMIN = ("admin", "secret")


async def _client(tmp_path: Path, docs: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        admin_password=ADMIN[1],
        api_docs=docs,
        history_writer_process=False,
        link_token="api-docs-cluster-token",
    )
    app = create_app(settings)
    async with app.api.router.lifespan_context(app.api):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture
async def public(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, "public"):
        yield client


@pytest.fixture
async def off(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, "off"):
        yield client


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(tmp_path, "admin"):
        yield client


async def test_public_docs_need_no_login(public: httpx.AsyncClient) -> None:
    assert (await public.get("/docs")).status_code == 200
    spec = (await public.get("/openapi.json")).json()
    assert "/api/status" in spec["paths"]


async def test_off_serves_no_docs_even_to_the_admin(off: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        response = await off.get(path, auth=ADMIN)
        assert response.status_code == 404, path
        assert response.json()["error"] == "unknown_endpoint"
    assert (await off.get("/api/status", auth=ADMIN)).status_code == 200


async def test_admin_docs_ask_for_the_login_and_count_failures(admin: httpx.AsyncClient) -> None:
    refused = await admin.get("/docs")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="flowhost API docs"'
    assert "swagger" in (await admin.get("/docs", auth=ADMIN)).text.lower()
    for _ in range(5):  # LOGIN_FAILURES_FREE: the docs' login is throttled like the API's
        assert (await admin.get("/openapi.json", auth=("admin", "guess"))).status_code == 401
    assert (await admin.get("/openapi.json", auth=("admin", "guess"))).status_code == 401
    locked = await admin.get("/api/status", auth=ADMIN)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1


# --- /docs renders with no network: every asset comes from the gateway ------------------------

_REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")


async def _assets_of(client: httpx.AsyncClient, page: str) -> list[str]:
    html = (await client.get(page, auth=ADMIN)).text
    assert "http://" not in html and "https://" not in html, html  # no CDN, no fonts, no badge
    found = [a or b for a, b in _REFERENCE.findall(html)]
    assert found, html
    return found


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
@pytest.mark.parametrize("mode", ["admin", "public"])
async def test_the_docs_pages_load_everything_from_the_gateway(
    tmp_path: Path, mode: str, page: str
) -> None:
    async for client in _client(tmp_path, mode):
        references = await _assets_of(client, page)
        assert "/openapi.json" in references
        scripts = [r for r in references if r.endswith(".js")]
        assert len(scripts) == 1, references
        for reference in references:
            assert reference.startswith("/") and not reference.startswith("//"), reference
            # The assets say nothing about this API: served without the login.
            auth = ADMIN if reference == "/openapi.json" else None
            response = await client.get(reference, auth=auth)
            assert response.status_code == 200, reference
            assert len(response.content) > 1000, reference
        script = (await client.get(scripts[0])).text
        assert ("SwaggerUIBundle" if page == "/docs" else "Redoc") in script
        assert (await client.get("/docs/assets/nope.js")).status_code == 404
