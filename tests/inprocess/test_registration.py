"""Executors joining and leaving at run time: signed registrations, refusals, expiry, and an
even split between equal executors (issue 15)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from executors.registration import JOIN_PATH, LEAVE_PATH, SIGNATURE_HEADER, sign
from executors.server import ExecutorServer
from tests.inprocess.conftest import (
    EXAMPLES,
    LINK_TOKEN,
    InProcessCluster,
    executor_settings,
    in_process_cluster,
)
from tests.inprocess.test_flow_path import QUOTE

_clock = [0]


def _stamp() -> int:
    """Now in ms, strictly increasing across the module (as an executor's own messages are)."""
    _clock[0] = max(int(time.time() * 1000), _clock[0] + 1)
    return _clock[0]


async def _post(
    cluster: InProcessCluster,
    path: str,
    body: dict[str, Any],
    *,
    token: str = LINK_TOKEN,
    signed_at_ms: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    raw = json.dumps(body).encode()
    stamp = _stamp() if signed_at_ms is None else signed_at_ms
    value = sign([token.encode()], "POST", path, stamp, raw) if header is None else header
    headers: dict[str, str | bytes] = {"content-type": "application/json"}
    if value:
        headers[SIGNATURE_HEADER] = value.encode("latin-1")  # what a hostile client may send
    # No admin credentials: the signature is the registration's only proof.
    return await cluster.api.post(path, content=raw, headers=headers, auth=None)


async def join(cluster: InProcessCluster, address: str, **kwargs: Any) -> httpx.Response:
    body = {"runtime": kwargs.pop("runtime", "default"), "address": address, "executor_id": "x"}
    return await _post(cluster, JOIN_PATH, body, **kwargs)


@pytest.fixture
async def cluster(tmp_path: Path) -> Any:
    async with in_process_cluster(tmp_path, registration_ttl_s=1.0) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        await running.api.post("/api/runtimes/default")
        yield running


async def test_refusals_name_what_is_wrong(cluster: InProcessCluster) -> None:
    address = "127.0.0.1:1"

    def problem(answer: httpx.Response) -> tuple[int, str]:
        return answer.status_code, answer.json()["error"]

    assert problem(await join(cluster, address, header="")) == (401, "signature_required")
    wrong = await join(cluster, address, token="not-the-cluster-token-at-all")
    assert problem(wrong) == (401, "bad_signature")
    for garbled in ("t=abc;sig=00", "sig=00", "t=1", ";;;", "t=1;sig=\u00e9", "t=1;sig=,,,"):
        assert problem(await join(cluster, address, header=garbled)) == (401, "bad_signature")
    old = await join(cluster, address, signed_at_ms=int(time.time() * 1000) - 120_000)
    assert problem(old) == (401, "signature_expired")
    assert "FLOWHOST_REGISTRATION_CLOCK_SKEW_S" in old.json()["message"]
    for bad in ("nonsense", "host:0", "host:99999", "0.0.0.0:50051", "[::]:5", "a b:1", "[zz]:1"):
        answer = await join(cluster, bad)
        assert problem(answer) == (400, "invalid_address"), (bad, answer.text)
        assert bad in answer.json()["message"]
    unknown = await join(cluster, address, runtime="eu")
    assert problem(unknown) == (404, "unknown_runtime")
    assert "'eu'" in unknown.json()["message"]
    assert problem(await join(cluster, address, runtime="bad name")) == (400, "invalid_name")
    extra = await _post(cluster, JOIN_PATH, {"runtime": "default", "address": address, "x": 1})
    assert extra.status_code == 422
    huge = await _post(cluster, JOIN_PATH, {"runtime": "default", "address": "a" * 5000})
    assert problem(huge) == (413, "payload_too_large")
    # None of these registered anything.
    assert address not in [e["address"] for e in (await cluster.api.get("/api/executors")).json()]


async def test_a_replayed_message_is_refused_so_a_leave_cannot_be_undone(
    cluster: InProcessCluster,
) -> None:
    stamp = _stamp()
    assert (await join(cluster, "127.0.0.1:2", signed_at_ms=stamp)).status_code == 200
    again = await join(cluster, "127.0.0.1:2", signed_at_ms=stamp)
    assert (again.status_code, again.json()["error"]) == (401, "signature_replayed")
    left = await _post(cluster, LEAVE_PATH, {"address": "127.0.0.1:2"}, signed_at_ms=stamp + 1)
    assert left.status_code == 204
    replay = await _post(cluster, LEAVE_PATH, {"address": "127.0.0.1:2"}, signed_at_ms=stamp + 1)
    assert replay.status_code == 401
    back = await join(cluster, "127.0.0.1:2", signed_at_ms=stamp)  # the first join, replayed
    assert back.json()["error"] == "signature_replayed"


async def test_a_gateway_without_a_token_refuses_registration(tmp_path: Path) -> None:
    from gateway.registration import RegistrationGate

    gate = RegistrationGate("", 30.0)
    with pytest.raises(Exception, match="no cluster token") as refused:
        gate.check("POST", JOIN_PATH, "t=1;sig=00", b"{}")
    assert getattr(refused.value, "status", None) == 403


async def _until(cluster: InProcessCluster, check: Any, timeout_s: float = 5.0) -> float:
    started = time.monotonic()
    while not check(await cluster.executors_ready()):
        assert time.monotonic() - started < timeout_s, await cluster.executors_ready()
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_registered_executor_serves_at_once_and_leaves_routing(
    cluster: InProcessCluster,
) -> None:
    async with ExecutorServer(executor_settings()) as joining:
        answer = await join(cluster, joining.address)
        assert answer.status_code == 200, answer.text
        assert answer.json()["renew_in_s"] == pytest.approx(1.0 / 3)
        # The registration wakes the reconciler: deployed and streaming well within ~1 s.
        took = await _until(cluster, lambda ready: joining.address in ready)
        assert took < 1.5
        async with cluster.flow(await cluster.user()) as flow:
            for _ in range(4):
                assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
        served = await _served(cluster, 4)
        assert served.get(joining.address, 0) >= 1, served
        left = await _post(cluster, LEAVE_PATH, {"address": joining.address})
        assert left.status_code == 204
        await _until(cluster, lambda ready: joining.address not in ready, timeout_s=1.5)
        statuses = (await cluster.api.get("/api/executors")).json()
        assert joining.address not in [e["address"] for e in statuses]


async def test_a_lost_executor_is_dropped_after_the_expiry(cluster: InProcessCluster) -> None:
    async with ExecutorServer(executor_settings()) as lost:
        assert (await join(cluster, lost.address)).status_code == 200
        joined = time.monotonic()  # the registration's expiry runs from here (or a bit before)
        await _until(cluster, lambda ready: lost.address in ready)
        # No renewal (ttl 1 s): gone from routing and status after the expiry, counted from the
        # registration (becoming ready may itself take most of the second on a loaded machine).
        await _until(cluster, lambda ready: lost.address not in ready, timeout_s=3.0)
        assert 0.8 < time.monotonic() - joined < 3.5
        listed = [e["address"] for e in (await cluster.api.get("/api/executors")).json()]
        assert lost.address not in listed


async def test_the_executor_registers_renews_and_leaves_by_itself(tmp_path: Path) -> None:
    """The executor's own client, against a real HTTP gateway (uvicorn on port 0)."""
    import uvicorn

    from gateway.app import create_app
    from tests.inprocess.conftest import gateway_settings

    first = await ExecutorServer(executor_settings()).__aenter__()
    app = create_app(gateway_settings(tmp_path, [first], registration_ttl_s=0.6))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, auth=("admin", "in-process-admin")) as api:
            created = await api.post("/api/runtimes/default", headers={"x-flowhost-client": "t"})
            assert created.status_code in (200, 201)
            joining = ExecutorServer(executor_settings(gateways=[url]))
            await joining.start()

            async def ready() -> list[str]:
                answer = await api.get("/api/executors")
                return [e["address"] for e in answer.json() if e["ready"]]

            deadline = time.monotonic() + 5
            while joining.address not in await ready():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # past the 0.6 s expiry: renewals keep it
            assert joining.address in await ready()
            await joining.shutdown()  # SIGTERM's path: drain, leave, stop
            assert joining.address not in await ready()
    finally:
        server.should_exit = True
        await serving
        await first.shutdown()


def _counts(metrics: str) -> dict[str, float]:
    """Execute requests each executor received, by address (its stats, from /metrics)."""
    pattern = r"^flowhost_executor_stream_requests_total\{([^}]*)\} (\S+)"
    counts = {}
    for labels, value in re.findall(pattern, metrics, re.M):
        address = re.search(r'executor="([^"]+)"', labels)
        assert address is not None, labels
        counts[address[1]] = float(value)
    return counts


async def _served(cluster: InProcessCluster, total: int) -> dict[str, float]:
    """The per-executor counts once they add up to `total` (executors report every pass)."""
    deadline = time.monotonic() + 5
    while sum((counts := _counts((await cluster.api.get("/metrics")).text)).values()) < total:
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.05)
    return counts


async def test_equal_executors_share_the_requests_evenly(tmp_path: Path) -> None:
    async with in_process_cluster(tmp_path, executors=2) as cluster:
        await cluster.deploy((EXAMPLES / "shop.yaml").read_text())
        async with cluster.flow(await cluster.user()) as flow:
            for _ in range(5):  # sequential-ish: 8 at once, idle in between (every pick a tie)
                batch = [flow.post("/fs/shop/actions/quote", json=QUOTE) for _ in range(8)]
                assert {a.status_code for a in await asyncio.gather(*batch)} == {200}
            for _ in range(20):  # one at a time: the first of equal ones used to take them all
                assert (await flow.post("/fs/shop/actions/quote", json=QUOTE)).status_code == 200
        counts = await _served(cluster, 60)
        assert len(counts) == 2
        assert all(24 <= n <= 36 for n in counts.values()), counts  # within 40/60


async def test_every_gateway_sharing_the_store_dials_a_registration(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    shared = {"database_url": postgres_schema_url}
    async with (
        in_process_cluster(tmp_path / "a", **shared) as a,
        in_process_cluster(tmp_path / "b", **shared) as b,
        ExecutorServer(executor_settings()) as joining,
    ):
        await a.deploy((EXAMPLES / "shop.yaml").read_text())
        assert (await join(a, joining.address)).status_code == 200
        await _until(a, lambda ready: joining.address in ready)
        await _until(b, lambda ready: joining.address in ready)  # its next pass, from the store
        assert (await _post(a, LEAVE_PATH, {"address": joining.address})).status_code == 204
        await _until(b, lambda ready: joining.address not in ready)


async def test_during_a_token_rotation_either_token_signs(cluster: InProcessCluster) -> None:
    body = json.dumps({"runtime": "default", "address": "127.0.0.1:3"}).encode()
    tokens = [b"the-next-cluster-token-not-yet-at-the-gateway", LINK_TOKEN.encode()]
    header = sign(tokens, "POST", JOIN_PATH, _stamp(), body)
    answer = await cluster.api.post(
        JOIN_PATH,
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: header},
        auth=None,
    )
    assert answer.status_code == 200, answer.text
