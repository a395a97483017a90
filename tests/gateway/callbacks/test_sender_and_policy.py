"""Callback policy, Flow's answers and the backoff schedule."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import httpx
import pytest

from gateway.callbacks.outbox import Callback, Outbox, Waiting
from gateway.callbacks.policy import CallbackPolicy, uri_problem
from gateway.callbacks.sender import CallbackSender, backoff_s, failed, interpret
from gateway.errors import BadRequest, Forbidden
from gateway.policy import RuntimePolicy
from gateway.store import Store


def test_backoff_doubles_is_capped_and_jittered() -> None:
    assert [backoff_s(a, 1.0, 10.0, rand=lambda: 1.0) for a in range(1, 7)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
    ]
    assert backoff_s(3, 1.0, 10.0, rand=lambda: 0.0) == 2.0  # equal jitter: at least half


@pytest.mark.parametrize(
    ("status", "body", "delivered", "retry"),
    [
        (200, b'"SUCCESS"', True, False),
        (200, b'"WAIT"', True, False),
        (200, b'"BUSY"', False, True),
        (503, b"down", False, True),
        (429, b"", False, True),
        (404, b"no such state", False, False),
    ],
)
def test_flow_answers(status: int, body: bytes, delivered: bool, retry: bool) -> None:
    answer = interpret(status, body)
    assert (answer.delivered, answer.retry) == (delivered, retry)


async def test_callback_uris() -> None:
    policy = CallbackPolicy({"prod": ["flow.manywho.com"]})
    await policy.check("prod", "https://flow.manywho.com/api/run/1/response")
    await policy.check("dev", "http://anything.example/cb")  # runtimes not listed: any host
    with pytest.raises(BadRequest, match="must be an http or https URL, not 'ftp'"):
        await policy.check("dev", "ftp://x/y")
    with pytest.raises(BadRequest, match="must not contain spaces"):
        await policy.check("dev", "not a url")
    with pytest.raises(BadRequest, match="must be an http or https URL"):
        await policy.check("dev", "notaurl")
    with pytest.raises(Forbidden, match="not allowed for runtime 'prod'"):
        await policy.check("prod", "https://evil.example/cb")


def test_a_receiver_that_never_answers_is_timed_out_and_dead_lettered(tmp_path: Path) -> None:
    async def scenario() -> None:
        held: list[asyncio.StreamWriter] = []

        async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # read nothing, answer nothing

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        row = await _deliver_until_dead(
            tmp_path, f"http://127.0.0.1:{port}/cb", "ten", attempts=2, timeout_s=0.2
        )
        assert (row.state, row.attempts) == ("dead", 2)
        assert "Timeout" in row.last_error
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://flow.manywho.com/api/run/1/response", None),
        ("http://127.0.0.1:8080/api/run/1/response", None),
        ("http://[::1]:8080/cb", None),
        ("http://flow_gw.internal/cb", None),  # compose service names hold underscores
        ("http://h/a\r\nX-Injected: 1", "must not contain spaces or line breaks"),
        ("http://h/a b", "must not contain spaces or line breaks"),
        ("http://h:99999/cb", "has port 99999; a port is 1 to 65535"),
        ("http://h:0/cb", "has port 0"),
        ("http://h:abc/cb", "is not a URL httpx accepts: Invalid port: 'abc'"),
        ("http:///cb", "must name a host"),
        ("http://%41/cb", "must name a host"),
        ("http://xn--/cb", "is not a URL httpx accepts"),
        ("ftp://h/cb", "must be an http or https URL, not 'ftp'"),
        ("javascript:alert(1)", "must be an http or https URL, not 'javascript'"),
        ("/api/run/1/response", "must be an http or https URL, not 'a relative one'"),
        ("http://h/" + "a" * 3000, "is 3009 characters long; the limit is 2048"),
        ("http://h/\x00", "is not a URL httpx accepts"),
        (42, "must be text, got a number"),
        (["http://h/"], "must be text, got an array"),
    ],
)
def test_callback_uris_httpx_would_not_accept_are_named(uri: object, problem: str | None) -> None:
    found = uri_problem(uri, 2048)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_a_bad_callback_uri_or_tenant_is_refused_at_request_time() -> None:
    policy = CallbackPolicy({}, uri_max_chars=64)
    policy.check_request({"callbackUri": None})
    policy.check_request({"callbackUri": "", "tenantId": "x" * 500})  # no callback: no header
    policy.check_request({"callbackUri": "https://flow.example/cb", "tenantId": "ten-1"})
    with pytest.raises(BadRequest, match=r"^callbackUri is 73 characters long") as caught:
        policy.check_request({"callbackUri": "https://flow.example/" + "a" * 52})
    assert caught.value.code == "bad_callback_uri"
    with pytest.raises(BadRequest, match=r"^tenantId must be text") as caught:
        policy.check_request({"callbackUri": "https://flow.example/cb", "tenantId": "a\r\nb"})
    assert caught.value.code == "bad_tenant_id"


def _chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("error", "retry", "detail"),
    [
        (httpx.ConnectError("connection refused"), True, "ConnectError: connection refused"),
        (httpx.ReadTimeout("slow"), True, "ReadTimeout: slow"),
        (httpx.RemoteProtocolError("dropped"), True, "RemoteProtocolError"),
        (httpx.InvalidURL("Invalid non-printable ASCII character"), False, "InvalidURL"),
        (httpx.UnsupportedProtocol("ftp"), False, "UnsupportedProtocol"),
        (httpx.LocalProtocolError("Illegal header value"), False, "LocalProtocolError"),
        (
            _chained(httpx.ConnectError("tls"), ssl.SSLCertVerificationError("self-signed")),
            False,
            "TLS: SSLCertVerificationError",
        ),
        (_chained(httpx.ConnectError("eof"), ssl.SSLEOFError("eof")), True, "ConnectError"),
        (UnicodeEncodeError("ascii", "é", 0, 1, "no"), False, "UnicodeEncodeError"),
        (BadRequest("refused by a check"), False, "BadRequest: refused by a check"),
    ],
)
def test_delivery_errors_that_are_not_transient_dead_letter(
    error: Exception, retry: bool, detail: str
) -> None:
    answer = failed(error)
    assert (answer.delivered, answer.retry) == (False, retry)
    assert answer.detail.startswith(detail)


@pytest.mark.parametrize(
    ("uri", "tenant", "reason"),
    [
        # rows an older gateway let in: httpx refuses them on every attempt
        ("http://127.0.0.1:{port}/cb\r\nX-Injected: 1", "ten", "InvalidURL: "),
        ("ftp://127.0.0.1:{port}/cb", "ten", "UnsupportedProtocol: "),
        ("http://127.0.0.1:{port}/cb", "ten\r\nX-Injected: 1", "LocalProtocolError: "),
    ],
)
def test_a_delivery_that_can_never_work_is_dead_lettered_on_the_first_attempt(
    tmp_path: Path, uri: str, tenant: str, reason: str
) -> None:
    async def scenario() -> None:
        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        row = await _deliver_until_dead(
            tmp_path, uri.format(port=port), tenant, attempts=10, timeout_s=0.5
        )
        assert (row.state, row.attempts) == ("dead", 1), row
        assert row.last_error.startswith(reason), row.last_error
        assert row.lease_until is None
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


async def _deliver_until_dead(
    tmp_path: Path, uri: str, tenant: str, *, attempts: int, timeout_s: float
) -> Callback:
    """One finished execution's callback to `uri`, delivered by a real sender (loopback
    allowed: the receivers listen on 127.0.0.1) until it is dead-lettered or 5 s pass; its row."""
    with Store(f"sqlite:///{tmp_path / 'f.db'}") as store:
        outbox = Outbox(store.engine)
        waiting = Waiting(
            "e-1", "default", "s", "a", "s@1", "p", "x:1", "id",
            uri, tenant, "", "{}", time.time(),
        )  # fmt: skip
        outbox.add_running(waiting, poll_at=time.time() + 60)
        outbox.complete("e-1", "{}")
        sender = CallbackSender(
            outbox,
            attempts=attempts,
            backoff_base_s=0.01,
            backoff_max_s=0.01,
            timeout_s=timeout_s,
            concurrency=2,
            poll_interval_s=0.02,
            policy=lambda runtime: RuntimePolicy(allow_loopback=True),
        )
        await sender.start()
        try:
            for _ in range(250):
                if outbox.get("e-1").state == "dead":
                    break
                await asyncio.sleep(0.02)
        finally:
            await sender.stop()
        return outbox.get("e-1")
