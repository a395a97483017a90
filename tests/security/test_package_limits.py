"""Hostile packages: refused with a 4xx naming the limit, in the gateway, fast; the cluster serves.

Rows of issue 12: "a 655-byte package with a YAML alias bomb in a profile's `examples` (deploy
--dry-run) → executor 2 GB, plain-text 500" and "a 100,000-deep nested YAML package →
RecursionError, plain-text 500".
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from flowhost.client import admin_from
from flowhost.devcluster import Cluster
from gateway.link import TOKEN_METADATA_KEY
from protos.flowhost.v1 import executor_pb2 as pb
from protos.flowhost.v1 import executor_pb2_grpc as pb_grpc
from tests.e2e.cluster import flowhost
from tests.security.conftest import EXAMPLES, assert_serving

HEADERS = {"X-Flowhost-Client": "test", "Content-Type": "application/yaml"}


def alias_bomb() -> str:
    """Nine levels of nine aliases in a profile's examples: 387 million strings once built."""
    levels = "abcdefghi"
    rows = ['        - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [
        f"        - &{cur} [{','.join([f'*{prev}'] * 9)}]"
        for prev, cur in itertools.pairwise(levels)
    ]
    return (
        'name: bomb\nversion: "1"\nservice:\n  path: bomb\n  profiles:\n    P:\n'
        "      type: object\n      examples:\n" + "\n".join(rows) + "\nprocesses: {}\n"
    )


def deep(levels: int, opening: str = "[", closing: str = "]") -> str:
    return (
        'name: deep\nversion: "1"\nservice: {path: deep}\nprocesses: {}\n'
        f"x: {opening * levels}{closing * levels}\n"
    )


def deploy(cluster: Cluster, source: str | bytes, dry_run: bool = True) -> httpx.Response:
    return httpx.post(
        f"{cluster.url}/api/runtimes/{cluster.runtime}/packages",
        params={"dry_run": str(dry_run).lower()},
        content=source.encode() if isinstance(source, str) else source,
        headers=HEADERS,
        auth=admin_from(cluster.data_dir),
        timeout=30,
    )


def refused(response: httpx.Response, status: int, limit: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["details"]["limit"] == limit
    assert f"FLOWHOST_{limit.upper()}" in body["message"]
    return body


def test_an_alias_bomb_in_a_profile_is_refused_at_dry_run(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    source = alias_bomb()
    assert len(source) < 700
    started = time.monotonic()
    response = deploy(cluster, source)
    assert time.monotonic() - started < 2
    body = refused(response, 422, "package_max_nodes")
    assert body["details"]["value"] == 250_000
    assert_serving(cluster, flow_auth)


def test_the_cli_names_the_limit_on_dry_run(
    cluster: Cluster, flow_auth: tuple[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    result = flowhost(cluster, "deploy", str(path), "--dry-run")
    assert result.returncode == 1
    assert "FLOWHOST_PACKAGE_MAX_NODES" in result.stderr and "HTTP 422" in result.stderr
    assert_serving(cluster, flow_auth)


def test_a_100000_deep_package_is_refused(cluster: Cluster, flow_auth: tuple[str, str]) -> None:
    block = "- " * 100_000 + "x\n"  # block style: a sequence in a sequence in ...
    for source in (deep(100_000), deep(100_000, "{a: ", "}"), block):
        body = refused(deploy(cluster, source), 422, "package_max_depth")
        assert body["details"]["value"] == 64
    assert_serving(cluster, flow_auth)


def test_a_package_over_its_size_limit_is_413_before_it_is_read(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    padding = "# " + "x" * 100 + "\n"
    body = refused(deploy(cluster, padding * 11_000), 413, "package_max_bytes")
    assert body["error"] == "package_too_large"
    assert_serving(cluster, flow_auth)


def test_a_huge_profile_and_too_many_processes_are_refused(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    profile = (
        'name: big\nversion: "1"\nservice:\n  path: big\n  profiles:\n'
        f'    Big: {{type: object, description: "{"x" * 300_000}"}}\nprocesses: {{}}\n'
    )
    body = refused(deploy(cluster, profile), 422, "package_profile_max_bytes")
    assert "'Big'" in body["message"]
    processes = 'name: many\nversion: "1"\nservice: {path: many}\nprocesses:\n' + "".join(
        f"  p{i}: {{steps: [{{return: {{}}}}]}}\n" for i in range(1001)
    )
    refused(deploy(cluster, processes), 422, "package_max_processes")
    assert_serving(cluster, flow_auth)


def test_a_package_that_reuses_a_profile_by_alias_still_deploys(cluster: Cluster) -> None:
    shop = (EXAMPLES / "shop.yaml").read_text()
    assert deploy(cluster, shop).status_code == 200
    source = (
        'name: aliases\nversion: "1"\nservice:\n  path: aliases\n  profiles:\n'
        "    In: &quote {type: object, properties: {sku: {type: string}}}\n"
        "    Out: *quote\n"
        "  actions: [{name: echo, process: echo, request: In, response: Out}]\n"
        "processes:\n  echo: {steps: [{return: {}}]}\n"
    )
    response = deploy(cluster, source)
    assert response.status_code == 200, response.text
    assert response.json()["actions"] == ["echo"]


@pytest.mark.parametrize("source", [alias_bomb(), deep(100_000), "a: &x [*x]\n"])
async def test_the_executor_itself_refuses_what_the_gateway_would(
    cluster: Cluster, flow_auth: tuple[str, str], source: str
) -> None:
    """Defence in depth: sent straight to an executor's Validate, it is an issue, not a crash."""

    started = time.monotonic()
    assert cluster.link is not None
    token = cluster.link.token.read_text().strip()
    async with grpc.aio.insecure_channel(cluster.executor_addresses[0]) as channel:
        reply: pb.ValidateReply = await pb_grpc.ExecutorStub(channel).Validate(
            pb.ValidateRequest(source=source),
            timeout=10,
            metadata=((TOKEN_METADATA_KEY, token),),  # as a gateway of the cluster would
        )
    assert time.monotonic() - started < 5
    assert [issue.path for issue in reply.issues] == ["<yaml>"]
    assert any(word in reply.issues[0].message for word in ("values", "deeper", "contains it")), (
        reply.issues[0].message
    )
    assert_serving(cluster, flow_auth)


def test_a_profile_nested_to_the_depth_limit_deploys_and_is_described(
    cluster: Cluster, flow_auth: tuple[str, str]
) -> None:
    """The limits sit below what the rest of the system handles: nothing recurses too far."""
    inner = "{type: string}"
    for _ in range(29):  # 29 objects of 2 levels each, inside 4 levels of package: 62
        inner = f"{{type: object, properties: {{a: {inner}}}}}"
    source = (
        'name: nested\nversion: "1"\nservice:\n  path: nested\n  profiles:\n'
        f"    P: {inner}\n"
        "  actions: [{name: echo, process: echo, request: P, response: P}]\n"
        "processes:\n  echo: {steps: [{return: {}}]}\n"
    )
    response = deploy(cluster, source, dry_run=False)
    assert response.status_code == 200, response.text
    try:
        described = httpx.post(
            f"{cluster.url}/fs/nested/metadata/install", json={}, auth=flow_auth, timeout=30
        )
        assert described.status_code == 200, described.text
        assert len(described.json()["types"]) >= 29  # a Flow type per nested object
        assert_serving(cluster, flow_auth)
    finally:
        with cluster.client() as client:
            client.undeploy(cluster.runtime, "nested")
