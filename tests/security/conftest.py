"""The security suite: hostile inputs sent to a running cluster, as an attacker would send them.

Every test sends its input to real gateway and executor processes, asserts the clear 4xx (or the
bounded outcome), and then that the cluster still answers a normal request (`assert_serving`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import running_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "flowhost" / "examples"

QUOTE = {
    "inputs": [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
    ]
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster (gateway + two executors) with the examples deployed."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        running.deploy_examples(EXAMPLES)
        yield running


@pytest.fixture(scope="module")
def flow_auth(cluster: Cluster) -> tuple[str, str]:
    """A runtime user of the cluster's runtime: (name, token)."""
    return cluster.demo_user()


def assert_serving(cluster: Cluster, auth: tuple[str, str]) -> None:
    """The cluster still answers the example's quote action correctly."""
    response = httpx.post(f"{cluster.url}/fs/shop/actions/quote", json=QUOTE, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    outputs = {o["developerName"]: o["contentValue"] for o in response.json()["outputs"]}
    assert float(outputs["total"]) == 37.5
