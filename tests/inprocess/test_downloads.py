"""Download links: list results carry a signed downloadUri that streams the file from the
executor (the `Download` RPC), with no credentials; altered, expired or foreign links are
refused naming why. A real gateway app and a real executor over gRPC (the in-process tier)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.configuration.keys import new_key
from tests.inprocess.conftest import (
    EXAMPLES,
    InProcessCluster,
    gateway_settings,
    in_process_cluster,
)

PDF = b"%PDF-1.4\n" + os.urandom(700_000)  # several chunks of the stream


@asynccontextmanager
async def countries_cluster(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[InProcessCluster, Path]]:
    files = tmp_path / "files"
    async with in_process_cluster(
        tmp_path / "data",
        executor_overrides={"files_dir": str(files)},
        download_max_bytes=1_000_000,
        **overrides,
    ) as running:
        await running.deploy((EXAMPLES / "countries.yaml").read_text())
        folder = files / "default" / "invoices"
        folder.mkdir(parents=True)
        (folder / "2026-001.pdf").write_bytes(PDF)
        (folder / 'qu"ote é.txt').write_bytes(b"hello")
        yield running, folder


@pytest.fixture
async def countries(tmp_path: Path) -> AsyncIterator[tuple[InProcessCluster, Path]]:
    """Links with the default lifetime (300 s): a loaded machine cannot expire them mid-test."""
    async with countries_cluster(tmp_path) as running:
        yield running


@pytest.fixture
async def short_lived_countries(tmp_path: Path) -> AsyncIterator[tuple[InProcessCluster, Path]]:
    """Links that live 1 s, for the test of expiry alone."""
    async with countries_cluster(tmp_path, download_link_ttl_s=1.0) as running:
        yield running


async def listed(cluster: InProcessCluster) -> dict[str, str]:
    """The downloadUri of each listed file, by name."""
    async with cluster.flow(await cluster.user()) as flow:
        response = await flow.post("/fs/countries/file", json={"resourcePath": "/invoices"})
    assert response.status_code == 200, response.text
    uris = {}
    for item in response.json()["objectData"]:
        props = {p["developerName"]: p["contentValue"] for p in item["properties"]}
        uris[props["Name"]] = props["Download Uri"]
    return uris


def anonymous(cluster: InProcessCluster) -> httpx.AsyncClient:
    """A client with no credentials at all: the browser Flow hands the link to."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=cluster.app), base_url="http://x")


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    assert code in body["message"] or body.get("code") == code, body
    return body


async def test_a_listed_file_downloads_through_its_link_without_credentials(
    countries: tuple[InProcessCluster, Path],
) -> None:
    cluster, _ = countries
    uris = await listed(cluster)
    assert uris["2026-001.pdf"].startswith("http://gateway/fs/countries/file/download/")
    async with anonymous(cluster) as browser:
        response = await browser.get(uris["2026-001.pdf"].removeprefix("http://gateway"))
        assert response.status_code == 200, response.text
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(PDF))
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"2026-001.pdf\"; filename*=UTF-8''2026-001.pdf"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        odd = await browser.get(uris['qu"ote é.txt'].removeprefix("http://gateway"))
    assert odd.content == b"hello"
    assert odd.headers["content-disposition"] == (
        "attachment; filename=\"qu_ote _.txt\"; filename*=UTF-8''qu%22ote%20%C3%A9.txt"
    )
    exposed = (await cluster.api.get("/metrics")).text
    served = [line for line in exposed.splitlines() if 'operation="download"' in line]
    assert any('status="200"' in line and 'service="countries"' in line for line in served), served


async def test_altered_and_misplaced_links_are_refused_naming_why(
    countries: tuple[InProcessCluster, Path],
) -> None:
    cluster, _ = countries
    path = (await listed(cluster))["2026-001.pdf"].removeprefix("http://gateway")
    token = path.rsplit("/", 1)[1]
    body, signature = token.split(".")
    async with anonymous(cluster) as browser:
        altered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
        forged = await browser.get(path.replace(token, f"{altered}.{signature}"))
        assert "signature does not match" in problem(forged, 403, "forged_download_link")["message"]
        other = await browser.get(path.replace("/fs/countries/", "/fs/shop/"))
        problem(other, 403, "forged_download_link")
        problem(await browser.get(path.replace(token, "nonsense")), 404, "malformed_download_link")


async def test_an_expired_link_is_refused_naming_when(
    short_lived_countries: tuple[InProcessCluster, Path],
) -> None:
    cluster, _ = short_lived_countries
    path = (await listed(cluster))["2026-001.pdf"].removeprefix("http://gateway")
    await asyncio.sleep(1.05)  # these links live 1 s
    async with anonymous(cluster) as browser:
        expired = await browser.get(path)
    message = problem(expired, 403, "expired_download_link")["message"]
    assert "expired at" in message and "links live 1 s" in message


async def test_a_file_past_the_limit_or_gone_is_refused_before_a_byte_is_sent(
    countries: tuple[InProcessCluster, Path],
) -> None:
    cluster, folder = countries
    (folder / "big.bin").write_bytes(b"x" * 1_000_001)
    uris = await listed(cluster)
    (folder / "2026-001.pdf").unlink()
    async with anonymous(cluster) as browser:
        big = await browser.get(uris["big.bin"].removeprefix("http://gateway"))
        assert "download_max_bytes" in problem(big, 413, "file_too_large")["message"]
        gone = await browser.get(uris["2026-001.pdf"].removeprefix("http://gateway"))
        assert "is not there" in problem(gone, 404, "file_not_found")["message"]


async def test_a_download_process_cannot_point_outside_the_files_root(tmp_path: Path) -> None:
    source = (
        (EXAMPLES / "countries.yaml")
        .read_text()
        .replace('{file_path: "\\($config.invoiceFolder)/\\(.id)"}', '{file_path: "../../secret"}')
    )
    (tmp_path / "secret").write_text("not for you")
    async with in_process_cluster(
        tmp_path / "data", executor_overrides={"files_dir": str(tmp_path / "files" / "x")}
    ) as cluster:
        await cluster.deploy(source)
        folder = tmp_path / "files" / "x" / "default" / "invoices"
        folder.mkdir(parents=True)
        (folder / "a.pdf").write_bytes(b"a")
        uri = (await listed(cluster))["a.pdf"]
        async with anonymous(cluster) as browser:
            response = await browser.get(uri.removeprefix("http://gateway"))
    assert (
        "outside the runtime's files root" in problem(response, 403, "path_outside_root")["message"]
    )
    assert "not for you" not in response.text


async def test_a_paused_service_refuses_its_download_links(
    countries: tuple[InProcessCluster, Path],
) -> None:
    cluster, _ = countries
    uri = (await listed(cluster))["2026-001.pdf"].removeprefix("http://gateway")
    paused = await cluster.api.post(
        "/api/listeners/pause", json={"runtime": "default", "service": "countries"}
    )
    assert paused.status_code == 200, paused.text
    async with anonymous(cluster) as browser:
        problem(await browser.get(uri), 503, "listener_paused")


async def test_a_second_gateway_sharing_the_store_and_key_honours_the_first_ones_link(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    key = new_key()
    files = tmp_path / "files"
    async with in_process_cluster(
        tmp_path / "one",
        executor_overrides={"files_dir": str(files)},
        database_url=postgres_schema_url,
        config_key=key,
    ) as one:
        await one.deploy((EXAMPLES / "countries.yaml").read_text())
        (files / "default" / "invoices").mkdir(parents=True)
        (files / "default" / "invoices" / "a.pdf").write_bytes(PDF)
        uri = (await listed(one))["a.pdf"].removeprefix("http://gateway")
        second = create_app(
            gateway_settings(
                tmp_path / "two", one.executors, database_url=postgres_schema_url, config_key=key
            )
        )
        async with (
            second.api.router.lifespan_context(second.api),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=second), base_url="http://g2"
            ) as browser,
        ):
            deadline = time.monotonic() + 10
            response = await browser.get(uri)
            while response.status_code != 200 and time.monotonic() < deadline:  # it catches up
                await asyncio.sleep(0.1)
                response = await browser.get(uri)
            assert response.status_code == 200, response.text
            assert response.content == PDF
