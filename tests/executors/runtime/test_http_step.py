"""The http step against a real HTTP server on 127.0.0.1 (a thread, port 0)."""

from __future__ import annotations

import email.utils
import functools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from executors.runtime import CompiledPackage, Document, PackageInvalid, load_package
from executors.runtime.policy import RuntimePolicy
from executors.testing import compile_package, values
from executors.testing import run_process as _run_process

from .helpers import package, process

# The servers here are on 127.0.0.1: these runs are of a runtime whose policy allows loopback
# (tests/executors/runtime/test_egress.py covers the refusals).
LOOPBACK = RuntimePolicy(allow_loopback=True)
run_process = functools.partial(_run_process, policy=LOOPBACK)


@dataclass
class Server:
    url: str
    hits: Counter[str] = field(default_factory=Counter)
    #: (method, path, Idempotency-Key header or None, monotonic time) of every request.
    seen: list[tuple[str, str, str | None, float]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        hits: Counter[str] = self.server.hits  # type: ignore[attr-defined]
        hits[parts.path] += 1
        seen: list[tuple[str, str, str | None, float]] = self.server.seen  # type: ignore[attr-defined]
        seen.append(
            (self.command, parts.path, self.headers.get("idempotency-key"), time.monotonic())
        )
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts.path.startswith("/orders/"):
            order = {"orderId": parts.path.rsplit("/", 1)[1], "state": "open"}
            self._send(200, json.dumps(order).encode())
        elif parts.path == "/echo":
            echo = {
                "method": self.command,
                "query": parse_qs(parts.query),
                "body": body.decode(),
                "content_type": self.headers.get("content-type"),
                "auth": self.headers.get("authorization"),
            }
            self._send(200, json.dumps(echo).encode())
        elif parts.path == "/flaky":
            if hits[parts.path] <= 2:
                self._send(503, b"try later", "text/plain")
            else:
                self._send(200, b'{"ok": true}')
        elif parts.path == "/busy":  # asks for a pause first: Retry-After in seconds, then a date
            if hits[parts.path] == 1:
                self.send_response(503)
                self.send_header("retry-after", parse_qs(parts.query)["after"][0])
                self.send_header("content-length", "0")
                self.end_headers()
            else:
                self._send(200, b'{"ok": true}')
        elif parts.path == "/down":
            self._send(503, b"down", "text/plain")
        elif parts.path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif parts.path == "/empty":
            self.send_response(204)
            self.end_headers()
        elif parts.path == "/slow":
            time.sleep(0.5)
            self._send(200, b"{}")
        else:
            self._send(404, b'{"error": "not found"}')

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The /slow handler writes after the client timed out and left: expected, not news.
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    hits: Counter[str] = Counter()
    httpd.hits = hits  # type: ignore[attr-defined]
    seen: list[tuple[str, str, str | None, float]] = []
    httpd.seen = seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", hits, seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def service(base: str) -> str:
    return f"{{path: t, configuration: [{{name: apiBase, type: string, default: '{base}'}}]}}"


async def test_get_parses_json_and_sets_status_properties(server: Server) -> None:
    source = package(
        """
        get-order:
          steps:
            - http: {method: GET, url: '"\\($config.apiBase)/orders/\\(.orderId)"'}
            - map: '{status: .state, id: .orderId, code: $docprops.http_status}'
            - return: {}
        """,
        service=service(server.url),
    )
    result = await run_process(source, "get-order", [{"orderId": "42"}])
    assert result.status == "ok", result.error
    assert values(result) == [{"status": "open", "id": "42", "code": "200"}]
    assert result.documents[0].properties["http_content_type"] == "application/json"


async def test_post_sends_the_document_and_headers_and_query(server: Server) -> None:
    source = process(
        f"""
        - http:
            method: POST
            url: '"{server.url}/echo"'
            headers: {{authorization: '"Bearer " + $props.token'}}
            query: {{tag: .tags, page: 1, skip: 'null'}}
        - return: {{}}
        """
    )
    result = await run_process(source, "p", [{"tags": ["a", "b"]}], props={"token": "t0k"})
    (echo,) = values(result)
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"tags": ["a", "b"]}
    assert echo["content_type"] == "application/json"
    assert echo["auth"] == "Bearer t0k"
    assert echo["query"] == {"tag": ["a", "b"], "page": ["1"]}


async def test_body_expression_and_get_sends_no_body(server: Server) -> None:
    source = process(
        f"""
        - branch:
            - [{{http: {{method: PUT, url: '"{server.url}/echo"', body: '{{wrapped: .}}'}}}}]
            - [{{http: {{method: POST, url: '"{server.url}/echo"', body: '"plain text"'}}}}]
            - [{{http: {{method: GET, url: '"{server.url}/echo"'}}}}]
        - map: '{{method, body, content_type}}'
        - return: {{}}
        """
    )
    result = await run_process(source, "p", [{"a": 1}])
    assert values(result) == [
        {"method": "PUT", "body": '{"wrapped":{"a":1}}', "content_type": "application/json"},
        {"method": "POST", "body": "plain text", "content_type": "text/plain; charset=utf-8"},
        {"method": "GET", "body": "", "content_type": None},
    ]


async def test_non_json_responses_become_strings_and_empty_ones_null(server: Server) -> None:
    source = process(
        f"""
        - branch:
            - [{{http: {{url: '"{server.url}/text"'}}}}]
            - [{{http: {{url: '"{server.url}/empty"'}}}}]
        - return: {{}}
        """
    )
    result = await run_process(source, "p")
    assert values(result) == ["héllo", None]
    assert [d.properties["http_status"] for d in result.documents] == ["200", "204"]


async def test_5xx_is_retried_until_it_succeeds(server: Server) -> None:
    source = process(
        f"- http: {{url: '\"{server.url}/flaky\"', retry_backoff: 1ms}}\n- return: {{}}"
    )
    result = await run_process(source, "p")
    assert result.status == "ok", result.error
    assert values(result) == [{"ok": True}]
    assert server.hits["/flaky"] == 3


async def test_5xx_fails_after_the_retries_with_method_url_and_status(server: Server) -> None:
    source = process(
        f"- http: {{url: '\"{server.url}/down?key=secret\"', retries: 1, retry_backoff: 1ms}}"
    )
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert server.hits["/down"] == 2
    assert result.error.step_path == "processes.p.steps[0]"
    assert result.error.code == "http_error" and result.error.retryable
    status = "503 Service Unavailable (after 2 attempts)"
    assert result.error.message == f"http step: GET {server.url}/down returned {status}: down"
    assert "secret" not in result.error.message


async def test_4xx_is_not_retried(server: Server) -> None:
    source = process(f"- http: {{url: '\"{server.url}/missing\"', retry_backoff: 1ms}}")
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert server.hits["/missing"] == 1
    assert "GET" in result.error.message and "404 Not Found" in result.error.message
    assert not result.error.retryable


async def test_timeouts_are_retried_then_fail(server: Server) -> None:
    source = process(
        # The timeout covers connecting too: on a loaded machine 50ms was a ConnectTimeout
        # now and then. 250ms leaves room to connect and still ends before /slow answers.
        f"- http: {{url: '\"{server.url}/slow\"', timeout: 250ms, retries: 1, retry_backoff: 1ms}}"
    )
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert "ReadTimeout" in result.error.message
    assert "after 2 attempts" in result.error.message
    assert server.hits["/slow"] == 2


async def test_connection_errors_are_retried_then_fail() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = process(f"- http: {{url: '\"http://127.0.0.1:{port}/x\"', retry_backoff: 1ms}}")
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert "ConnectError" in result.error.message
    assert "after 3 attempts" in result.error.message


async def test_a_shared_client_is_used_and_left_open(server: Server) -> None:
    source = process(f"- http: {{url: '\"{server.url}/orders/\\(.id)\"'}}\n- return: {{}}")
    async with httpx.AsyncClient() as client:
        compiled = CompiledPackage.compile(load_package(source), client)
        docs = [Document.from_value({"id": n}) for n in range(5)]
        result = await compiled.run("p", docs, policy=LOOPBACK)
        await compiled.aclose()  # not ours to close
        assert not client.is_closed
    assert [v["orderId"] for v in values(result)] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_idempotent_methods_are_retried_by_default(server: Server, method: str) -> None:
    source = process(
        f"- http: {{method: {method}, url: '\"{server.url}/down\"', retry_backoff: 1ms}}"
    )
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert [seen[0] for seen in server.seen] == [method] * 3
    assert "after 3 attempts" in result.error.message


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_post_and_patch_are_not_retried_unless_the_step_opts_in(
    server: Server, method: str
) -> None:
    """A POST whose first attempt reached the server is sent once: its side effect runs once."""
    source = process(
        f"- http: {{method: {method}, url: '\"{server.url}/down\"', retry_backoff: 1ms}}"
    )
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert server.hits["/down"] == 1
    assert [key for _, _, key, _ in server.seen] == [None]  # no opt-in: no Idempotency-Key
    assert f"{method} is not idempotent; `retry_unsafe: true` opts in" in result.error.message
    assert result.error.retryable  # the execution as a whole may still be retried by its caller


async def test_a_timed_out_post_is_not_sent_again(server: Server) -> None:
    source = process(f"- http: {{method: POST, url: '\"{server.url}/slow\"', timeout: 50ms}}")
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert "ReadTimeout" in result.error.message
    assert server.hits["/slow"] == 1


async def test_a_post_that_never_connected_is_retried() -> None:
    """Nothing was sent, so nothing can run twice: connection errors are retried for any method."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = process(
        f"- http: {{method: POST, url: '\"http://127.0.0.1:{port}/x\"', retry_backoff: 1ms}}"
    )
    result = await run_process(source, "p")
    assert result.status == "failed" and result.error is not None
    assert "ConnectError" in result.error.message and "after 3 attempts" in result.error.message


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_opted_in_retries_send_one_idempotency_key_per_request(
    server: Server, method: str
) -> None:
    source = process(
        f"""
        - http:
            {{method: {method}, url: '"{server.url}/flaky"', retry_unsafe: true,
             retry_backoff: 1ms}}
        - return: {{}}
        """
    )
    result = await run_process(source, "p", [{"n": 1}, {"n": 2}])
    assert result.status == "ok", result.error
    keys = [key for _, path, key, _ in server.seen if path == "/flaky"]
    # Document 1: 503, 503, 200 (three attempts, one key); document 2: 200 at once, its own key.
    assert len(keys) == 4 and all(keys)
    assert keys[0] == keys[1] == keys[2] != keys[3]


async def test_the_step_s_own_idempotency_key_is_kept(server: Server) -> None:
    source = process(
        f"""
        - http:
            method: POST
            url: '"{server.url}/flaky"'
            retry_unsafe: true
            retry_backoff: 1ms
            headers: {{Idempotency-Key: '"order-" + (.id | tostring)'}}
        - return: {{}}
        """
    )
    result = await run_process(source, "p", [{"id": 7}])
    assert result.status == "ok", result.error
    assert [key for _, _, key, _ in server.seen] == ["order-7"] * 3


def test_retry_unsafe_must_be_a_boolean() -> None:
    with pytest.raises(PackageInvalid) as refused:
        compile_package(process("- http: {method: POST, url: '\"http://x\"', retry_unsafe: 'yes'}"))
    assert "retry_unsafe" in str(refused.value) and "expected true or false" in str(refused.value)


@pytest.mark.parametrize("after", ["1", "date"])
async def test_retry_after_is_waited_for(server: Server, after: str) -> None:
    """The server asks for 1 s; the step's own back-off (1 ms) would have hammered it."""
    if after == "date":
        after = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2-3 s away
    url = f"{server.url}/busy?after={quote(after)}"
    source = process(f"- http: {{url: '\"{url}\"', retry_backoff: 1ms}}\n- return: {{}}")
    result = await run_process(source, "p")
    assert result.status == "ok", result.error
    first, second = (at for _, path, _, at in server.seen if path == "/busy")
    assert second - first >= 0.9


async def test_a_retry_after_past_the_deadline_fails_at_once(server: Server) -> None:
    source = process(f"- http: {{url: '\"{server.url}/busy?after=60\"'}}\n- return: {{}}")
    started = time.monotonic()
    result = await run_process(source, "p", timeout_s=5)
    assert time.monotonic() - started < 2
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "http_error"
    assert "503" in result.error.message
    assert "waiting 60s (Retry-After: 60s) would pass the deadline" in result.error.message
    assert server.hits["/busy"] == 1
