"""A subscribe trigger's broker name that resolves to an address the runtime's egress policy
refuses and to one it allows: the consumer connects only to the allowed one, as a literal, so
neither another of the name's addresses nor a later answer of the resolver is ever connected.

The name lives in a private /etc/hosts: the scenario runs in its own mount namespace
(`unshare --mount`, root only) with a hosts file bound over /etc/hosts, so the machine's own
file is never touched. NATS (127.0.0.1:4222) listens on 127.0.0.1 only: 127.0.0.2 answers
nothing. Run as `python -m tests.inprocess.test_triggers_subscribe_pinned FOLDER` it is the
scenario, printing what it saw as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import StreamConfig

from tests.inprocess.conftest import InProcessCluster, in_process_cluster
from tests.inprocess.test_triggers import docs_example
from tests.inprocess.test_triggers_subscribe import (
    NATS_URL,
    executions,
    needs_nats,
    set_config,
    trigger,
)

ROOT = Path(__file__).resolve().parents[2]
NAME = "broker.pin.test"
HOSTS = f"\n127.0.0.2 {NAME}\n127.0.0.1 {NAME}\n"


@needs_nats
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="a private /etc/hosts needs root and unshare(1) (util-linux)",
)
def test_a_broker_name_is_connected_only_at_an_address_the_policy_allows(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + HOSTS)
    run = subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$1" -m tests.inprocess.'
            'test_triggers_subscribe_pinned "$2"',
            str(hosts),
            sys.executable,
            str(tmp_path / "scenario"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    # Allowed: 127.0.0.2 only. The consumer tried there (nothing listens) and never reached
    # the broker through 127.0.0.1, which the name also resolves to.
    assert f"nats://{NAME}:4222 at 127.0.0.2" in seen["refused_problem"], seen
    assert seen["runs_while_refused"] == 0, seen
    # Allowed: 127.0.0.1 only. The same name now connects there and the message runs.
    assert seen["problem_when_allowed"] == "", seen
    assert seen["runs_when_allowed"] == 1, seen
    assert Path("/etc/hosts").read_text().count(NAME) == 0  # the machine's file is untouched


async def _policy(cluster: InProcessCluster, allow: str) -> None:
    response = await cluster.api.put("/api/runtimes/default/policy", json={"egress_allow": [allow]})
    assert response.status_code == 200, response.text


async def _until(check: Any, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := await check()):
        if time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)
    return value


async def scenario(folder: Path) -> dict[str, Any]:
    prefix = f"p{uuid.uuid4().hex[:10]}."
    stream = f"FH_{prefix.strip('.').upper()}"
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{prefix}>"]))
    seen: dict[str, Any] = {}
    try:
        async with in_process_cluster(folder) as cluster:
            await _policy(cluster, "127.0.0.2/32")
            await set_config(cluster, "prefix", prefix)
            await set_config(cluster, "broker", f"nats://{NAME}:4222")
            await cluster.deploy(docs_example().replace("stream: ORDERS", f"stream: {stream}"))
            await js.publish(f"{prefix}orders.created", b'{"id": "a", "quantity": 1}')

            async def refused() -> str:
                problem: str = (await trigger(cluster, "events"))["problem"]
                return problem if "127.0.0.2" in problem else ""

            seen["refused_problem"] = (
                await _until(refused) or (await trigger(cluster, "events"))["problem"]
            )
            seen["runs_while_refused"] = len(await executions(cluster, 1, timeout_s=2))
            await _policy(cluster, "127.0.0.1/32")  # a new policy restarts the consumer
            seen["runs_when_allowed"] = len(await executions(cluster, 1, timeout_s=15))
            seen["problem_when_allowed"] = (await trigger(cluster, "events"))["problem"]
    finally:
        await js.delete_stream(stream)
        await client.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(scenario(Path(sys.argv[1])))))
