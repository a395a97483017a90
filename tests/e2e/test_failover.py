"""End to end: one executor dies, the other keeps serving; it comes back with no redeploy."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.client import admin_from
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "packages" / "e2e.yaml"
INPUTS = [
    {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
    {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
    {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
]


def _executors(client: httpx.Client) -> list[dict[str, Any]]:
    with_admin = client.get("/api/executors")
    assert with_admin.status_code == 200, with_admin.text
    result: list[dict[str, Any]] = with_admin.json()
    return result


def test_killed_executor_stops_getting_traffic_and_rejoins(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        assert flowhost(cluster, "deploy", str(PACKAGE)).returncode == 0
        added = flowhost(cluster, "users", "add", "carol")
        token = added.stdout.split("token:")[1].strip()
        admin = httpx.Client(base_url=cluster.url, auth=admin_from(cluster.data_dir), timeout=10)
        flow = httpx.Client(base_url=f"{cluster.url}/fs/e2e", auth=("carol", token), timeout=10)

        def quote() -> httpx.Response:
            return flow.post("/actions/quote", json={"inputs": INPUTS})

        assert all(quote().status_code == 200 for _ in range(20))

        victim = cluster.children[0]
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()

        def dead_one_not_ready() -> None:
            states = {e["address"]: e["ready"] for e in _executors(admin)}
            assert list(states.values()).count(True) == 1, states

        assert_eventually(dead_one_not_ready, timeout_s=5)
        answers = [quote() for _ in range(50)]
        assert [r.status_code for r in answers] == [200] * 50
        assert {o["contentValue"] for o in answers[-1].json()["outputs"]} >= {"37.5", "AB-100"}

        # Restarted on the same address, it is brought back to the runtime's deployments.
        victim.start()

        def both_ready_with_the_package() -> None:
            executors = _executors(admin)
            assert [e["ready"] for e in executors] == [True, True], executors
            assert all("e2e@1.0.0" in e["deployments"] for e in executors), executors

        assert_eventually(both_ready_with_the_package, timeout_s=20)
        assert all(quote().status_code == 200 for _ in range(20))
        admin.close()
        flow.close()
