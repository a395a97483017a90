"""A subscribe trigger and a download link with the cluster as processes (a gateway and an
executor started as `flowhost up` starts them): messages published on the real NATS JetStream at
127.0.0.1:4222 run the process once each, a failing one lands in the dead letter after its
attempts; a listed invoice downloads through its signed link with no credentials at all."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from pathlib import Path

import httpx
import nats
import orjson
import pytest
from nats.js.api import StreamConfig

from tests.e2e.cluster import ROOT, assert_eventually, flowhost, running_cluster
from tests.inprocess.test_triggers import docs_example

pytestmark = pytest.mark.e2e

NATS_URL = "nats://127.0.0.1:4222"


def _nats_listening() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 4222)) == 0


@pytest.mark.skipif(not _nats_listening(), reason="no NATS server on 127.0.0.1:4222")
def test_a_subscribe_trigger_runs_each_message_and_dead_letters_a_failing_one(
    tmp_path: Path,
) -> None:
    prefix = f"e{uuid.uuid4().hex[:10]}."
    stream = f"FH_{prefix.strip('.').upper()}"
    package = tmp_path / "orders.yaml"
    package.write_text(docs_example().replace("stream: ORDERS", f"stream: {stream}"))

    async def scenario(cluster_url_ready: asyncio.Event) -> list[bytes]:
        client = await nats.connect(NATS_URL)
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}>"]))
        try:
            dead = await client.subscribe(f"{prefix}orders.dead")
            await cluster_url_ready.wait()
            for order in ({"id": "a", "quantity": 1}, {"id": "b", "quantity": 2}):
                await js.publish(f"{prefix}orders.created", orjson.dumps(order))
            await js.publish(f"{prefix}orders.created", orjson.dumps({"id": "c", "quantity": 50}))
            message = await dead.next_msg(timeout=20)
            return [message.data, message.headers.get("x-flowhost-error", "").encode()]
        finally:
            await js.delete_stream(stream)
            await client.close()

    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        assert flowhost(cluster, "config", "set", "prefix", prefix).returncode == 0
        deployed = flowhost(cluster, "deploy", str(package))
        assert deployed.returncode == 0, deployed.stderr

        def consuming() -> str:
            status = flowhost(cluster, "status").stdout
            row = next(r for r in status.splitlines() if "orders/events" in r)
            assert "active" in row and "Error" not in row, row
            return row

        loop = asyncio.new_event_loop()
        try:
            ready = asyncio.Event()
            task = loop.create_task(scenario(ready))
            loop.run_until_complete(asyncio.sleep(0.2))  # the stream exists before consuming
            assert_eventually(consuming, timeout_s=20)
            ready.set()
            dead_body, dead_error = loop.run_until_complete(task)
        finally:
            loop.close()
        assert orjson.loads(dead_body) == {"id": "c", "quantity": 50}
        assert b"only 10 in stock, asked for 50" in dead_error

        def three_attempts_and_two_successes() -> str:
            listed = flowhost(cluster, "executions", "--kind", "subscribe")
            assert listed.returncode == 0, listed.stderr
            rows = [r for r in listed.stdout.splitlines() if "events" in r]
            assert sum("ok" in r for r in rows) == 2, listed.stdout
            assert sum("failed" in r for r in rows) == 3, listed.stdout  # attempts: 3
            return listed.stdout

        assert_eventually(three_attempts_and_two_successes, timeout_s=15)


def test_a_listed_invoice_downloads_through_its_signed_link_without_credentials(
    tmp_path: Path,
) -> None:
    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        examples = ROOT / "flowhost" / "examples"
        assert flowhost(cluster, "deploy", str(examples / "countries.yaml")).returncode == 0
        folder = cluster.data_dir / "files" / "default" / "invoices"
        folder.mkdir(parents=True, exist_ok=True)
        invoice = b"%PDF-1.4\n" + os.urandom(600_000)
        (folder / "2026-007.pdf").write_bytes(invoice)
        user, token = cluster.demo_user()
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=cluster.url, timeout=30) as http:
            while True:
                listed = http.post(
                    "/fs/countries/file", json={"resourcePath": "/invoices"}, auth=(user, token)
                )
                if listed.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert listed.status_code == 200, listed.text
            [item] = listed.json()["objectData"]
            props = {p["developerName"]: p["contentValue"] for p in item["properties"]}
            link = props["Download Uri"]
            assert link.startswith(f"{cluster.url}/fs/countries/file/download/"), link

        downloaded = httpx.get(link, timeout=30)  # no credentials: the signature is the auth
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == invoice
        assert downloaded.headers["content-type"] == "application/pdf"
        assert "2026-007.pdf" in downloaded.headers["content-disposition"]
        token = link.rsplit("/", 1)[1]
        body, signature = token.rsplit(".", 1)
        altered = body[:-1] + ("A" if body[-1] != "A" else "B")
        forged = httpx.get(link.replace(token, f"{altered}.{signature}"), timeout=30)
        assert forged.status_code == 403, forged.text
        assert forged.headers["x-manywho-service-problem-kind"] == "service"
        assert "signature does not match" in forged.json()["message"], forged.text
