"""Execution limits (ExecutionLimits, read from the runtime's policy): passing one fails the
execution with `limit_exceeded` naming the limit, never the executor, and stops the work early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from executors.runtime.engine import ProcessResult
from executors.runtime.policy import ExecutionLimits, RuntimePolicy
from executors.testing import compile_package, documents

from .helpers import process


def _policy(**limits: int) -> RuntimePolicy:
    # Loopback allowed: the http test's server is on 127.0.0.1 (egress rules are tested elsewhere).
    return RuntimePolicy(allow_loopback=True, limits=ExecutionLimits(**limits))


async def _run(source: str, values: list[Any], policy: RuntimePolicy) -> ProcessResult:
    package = compile_package(source)
    try:
        return await package.run("p", documents(values), policy=policy)
    finally:
        await package.aclose()


def _assert_limit(result: ProcessResult, limit: str, value: int) -> None:
    assert result.status == "failed", result
    assert result.error is not None and result.error.code == "limit_exceeded", result.error
    assert f"{limit} ({value:,})" in result.error.message, result.error.message


async def test_combine_past_document_bytes_fails_with_the_limit_named() -> None:
    source = process("- combine: {}\n- return: {}")
    result = await _run(source, [{"n": "x" * 40}] * 3, _policy(document_bytes=100))
    _assert_limit(result, "document_bytes", 100)
    result = await _run(source, [{"n": 1}] * 3, _policy(document_bytes=100))
    assert result.status == "ok"


async def test_results_past_the_byte_limits_fail_the_execution() -> None:
    source = process("- return: {}")
    result = await _run(source, [{"n": "x" * 200}], _policy(document_bytes=100))
    _assert_limit(result, "document_bytes", 100)
    result = await _run(source, [{"n": "x" * 60}] * 3, _policy(execution_bytes=150))
    _assert_limit(result, "execution_bytes", 150)


async def test_a_jq_output_past_document_bytes_is_stopped_in_the_worker() -> None:
    source = process("- map: '[range(.n)]'\n- return: {}")
    result = await _run(source, [{"n": 100_000}], _policy(document_bytes=1000))
    _assert_limit(result, "document_bytes", 1000)


async def test_a_query_giving_more_rows_than_documents_per_step_stops_at_the_limit() -> None:
    source = process(
        """
        - db:
            url: '"sqlite://"'
            sql: >
              WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000)
              SELECT x FROM c
        - return: {}
        """
    )
    start = time.monotonic()
    result = await _run(source, [{}], _policy(documents_per_step=1000))
    assert time.monotonic() - start < 2
    _assert_limit(result, "documents_per_step", 1000)


class _Big(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        chunk = b"x" * 1024
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        if self.path == "/declared":
            self.send_header("content-length", str(len(chunk) * 1024))
            self.end_headers()
            for _ in range(1024):
                self.wfile.write(chunk)
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(100_000):  # 100 MB unless the client stops reading
                self.wfile.write(b"400\r\n" + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client stops reading at the limit: a broken pipe here is the point


@pytest.fixture
def big_server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Big)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("path", ["/declared", "/chunked"])
async def test_an_http_answer_past_document_bytes_is_refused_while_reading(
    big_server: str, path: str
) -> None:
    source = process(f"- http: {{url: '\"{big_server}{path}\"', retries: 0}}\n- return: {{}}")
    start = time.monotonic()
    result = await _run(source, [{}], _policy(document_bytes=64 * 1024))
    assert time.monotonic() - start < 5
    _assert_limit(result, "document_bytes", 64 * 1024)
