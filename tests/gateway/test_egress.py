"""Callbacks follow the runtime's egress rule: at request time and again at delivery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.callbacks.outbox import Outbox, Waiting
from gateway.callbacks.policy import CallbackPolicy
from gateway.callbacks.sender import CallbackSender
from gateway.egress import check_uri
from gateway.errors import BadRequest
from gateway.policy import RuntimePolicies, RuntimePolicy
from gateway.store import Store

DEFAULT = RuntimePolicy()
LOOPBACK = RuntimePolicy(allow_loopback=True)


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("169.254.169.254", "always refused"),
        ("::ffff:169.254.169.254", "always refused"),
        ("fe80::1", "always refused"),
        ("127.0.0.1", "loopback"),
        ("0x7f000001", "loopback"),
        ("2130706433", "loopback"),
        ("localhost", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.8", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
async def test_callback_hosts_are_checked_on_what_they_resolve_to(host: str, why: str) -> None:
    reason = await check_uri(DEFAULT, host, 80)
    assert reason is not None and why in reason


async def test_loopback_callbacks_pass_when_the_runtime_allows_them() -> None:
    assert await check_uri(LOOPBACK, "localhost", 80) is None
    assert await check_uri(LOOPBACK, "169.254.169.254", 80) is not None
    assert await check_uri(DEFAULT, "93.184.215.14", 443) is None


async def test_a_refused_callback_uri_is_a_400_naming_it_and_follows_policy_changes() -> None:
    policies = RuntimePolicies()
    policy = CallbackPolicy({}, policies.of)
    uri = "http://127.0.0.1:9/api/run/1/response"
    with pytest.raises(BadRequest) as refused:
        await policy.check("prod", uri)
    assert refused.value.code == "callback_not_allowed"
    assert uri in refused.value.message and "'prod'" in refused.value.message
    policies.load({"prod": LOOPBACK})
    await policy.check("prod", uri)
    policies.load({})
    with pytest.raises(BadRequest):
        await policy.check("prod", uri)  # a pass is not cached past a policy change
    assert RuntimePolicies(["dev"]).of("dev").allow_loopback


async def test_delivery_checks_the_resolved_address_and_dead_letters(tmp_path: Path) -> None:
    """A callback whose host resolves to a refused address is never sent, and not retried."""
    connected: list[int] = []

    async def receiver(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(1)
        writer.close()

    server = await asyncio.start_server(receiver, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with Store(f"sqlite:///{tmp_path / 'f.db'}") as store:
        outbox = Outbox(store.engine)
        waiting = Waiting(
            "e-1", "prod", "s", "a", "s@1", "p", "x:1", "id",
            f"http://localhost:{port}/cb", "ten", "", "{}", time.time(),
        )  # fmt: skip
        outbox.add_running(waiting, poll_at=time.time() + 60)
        outbox.complete("e-1", "{}")
        sender = CallbackSender(
            outbox,
            attempts=5,
            backoff_base_s=0.01,
            backoff_max_s=0.01,
            timeout_s=1.0,
            concurrency=2,
            poll_interval_s=0.02,
            policy=lambda runtime: DEFAULT,
        )
        await sender.start()
        try:
            for _ in range(200):
                if outbox.get("e-1").state == "dead":
                    break
                await asyncio.sleep(0.02)
        finally:
            await sender.stop()
            server.close()
        row = outbox.get("e-1")
        assert (row.state, row.attempts) == ("dead", 1), row
        assert "egress policy" in row.last_error and "loopback" in row.last_error
    assert connected == []
