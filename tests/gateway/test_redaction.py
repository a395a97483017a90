"""No secret in a log line: a real request through httpx, and the log as a handler writes it."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from executors import redaction as executor_redaction
from gateway import redaction as gateway_redaction


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Everything logged at INFO, as a plain handler would write it; the factory restored."""
    factory = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        logging.setLogRecordFactory(factory)


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{http.server_address[1]}"
    http.shutdown()
    http.server_close()


@pytest.mark.parametrize("module", [gateway_redaction, executor_redaction])
def test_httpx_request_lines_lose_query_strings_and_credentials(
    module: Any, log: io.StringIO, server: str
) -> None:
    module.install()
    module.install()  # idempotent
    httpx.get(f"http://ann:pass-secret@{server}/cb?password=query-secret&x=1")
    logging.getLogger("flowhost.test").info(
        "calling %s with Authorization: Bearer header-secret", "http://h/x?token=arg-secret"
    )
    try:
        raise ValueError("failed for https://u:exc-secret@h.example/y?k=exc-secret")
    except ValueError:
        logging.getLogger("flowhost.test").exception("boom")
    text = log.getvalue()
    assert f"HTTP Request: GET http://[redacted]@{server}/cb?[redacted]" in text
    assert "Authorization: Bearer [redacted]" in text and "http://h/x?[redacted]" in text
    assert "ValueError" in text
    assert "secret" not in text


def test_redact_keeps_what_is_not_secret() -> None:
    for module in (gateway_redaction, executor_redaction):
        assert module.redact("deployed countries@1.0.0 on 127.0.0.1:50051") == (
            "deployed countries@1.0.0 on 127.0.0.1:50051"
        )
        assert module.redact("http://flow.example/api/run/1") == "http://flow.example/api/run/1"
        assert module.redact('{"password": "pw", "user": "ann"}') == (
            '{"password": "[redacted]", "user": "ann"}'
        )
