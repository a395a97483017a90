"""Triggers as an operator meets them, against real gateway and executor processes: the secret
set with `flowhost config set`, a signed webhook, `flowhost status`, `flowhost listeners pause`
on a trigger, `flowhost executions --kind webhook`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.triggers.signature import sign
from tests.e2e.cluster import flowhost, running_cluster
from tests.inprocess.test_triggers import docs_example, webhook_only

pytestmark = pytest.mark.e2e


def test_an_operator_runs_a_webhook_sees_it_in_status_and_pauses_it(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        package = tmp_path / "orders.yaml"
        package.write_text(webhook_only(docs_example()))
        deployed = flowhost(cluster, "deploy", str(package))
        assert deployed.returncode == 0, deployed.stderr
        secret = flowhost(
            cluster, "config", "set", "webhookSecret", "hush", "--runtime", "default", "--secret"
        )
        assert secret.returncode == 0, secret.stderr
        body = orjson.dumps({"id": "A-7", "quantity": 3, "price": 2})
        url = f"{cluster.url}/hooks/default/orders/new-order"

        def call() -> httpx.Response:
            headers = {
                "content-type": "application/json",
                "x-flowhost-signature": sign("hush", body, int(time.time())),
            }
            return httpx.post(url, content=body, headers=headers, timeout=30)

        deadline = time.monotonic() + 10
        while (answer := call()).status_code != 200:  # the secret reaches the gateway at its poll
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        assert answer.json() == {"order": "A-7", "total": 6, "trigger": "new-order"}

        status = flowhost(cluster, "status")
        assert status.returncode == 0, status.stderr
        line = next(row for row in status.stdout.splitlines() if "orders/new-order " in row)
        assert "webhook" in line and "active" in line and " 1 " in line, status.stdout
        assert "orders/nightly" in status.stdout and "cron '0 2 * * *'" in status.stdout

        paused = flowhost(cluster, "listeners", "pause", "orders#new-order")
        assert paused.returncode == 0, paused.stderr
        assert "orders#new-order (webhook trigger) in runtime default is paused" in paused.stdout
        refused = call()
        assert refused.status_code == 503 and refused.json()["error"] == "listener_paused"
        assert refused.headers["retry-after"] == "30"
        assert "paused" in flowhost(cluster, "status").stdout
        assert flowhost(cluster, "listeners", "resume", "orders#new-order").returncode == 0
        assert call().status_code == 200

        listed = flowhost(cluster, "executions", "--kind", "webhook")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("new-order") == 2, listed.stdout
