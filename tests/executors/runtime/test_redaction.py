"""Secret configuration values are masked in what an execution leaves behind."""

from __future__ import annotations

import logging

import pytest

from executors.runtime import Document
from executors.runtime.redaction import MASK, Redactor, SecretLogFilter
from executors.testing import compile_package

from .helpers import package

SECRET = "p@ss word/ü"
SERVICE = "{path: t, configuration: [{name: key, type: password}, {name: token}]}"
PROCESSES = """
p:
  mode: general
  steps:
    - map: '{auth: $config.key, t: $config.token}'
    - log: '"using \\(.auth) and \\(.t)"'
    - fail: '"refused \\(.auth)"'
"""


async def test_error_trace_and_log_lines_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    compiled = compile_package(package(PROCESSES, service=SERVICE))
    with caplog.at_level(logging.INFO, logger="flowhost.process"):
        result = await compiled.run(
            "p",
            [Document.from_value({})],
            config={"key": SECRET, "token": "tok-123"},
            secret_config=("token",),
        )
    assert result.status == "failed" and result.error is not None
    assert result.error.message == f"fail step: refused {MASK}"
    recorded = b"".join(
        b for step in result.trace for b in (step.inputs or []) + (step.outputs or [])
    )
    assert b'"auth"' in recorded  # the documents were recorded...
    assert SECRET.encode() not in recorded and b"tok-123" not in recorded  # ...masked
    assert any(step.error for step in result.trace)
    assert all(SECRET not in step.error for step in result.trace)
    lines = [r.getMessage() for r in caplog.records]
    assert f"execution -: using {MASK} and {MASK}" in lines


async def test_without_secrets_nothing_is_masked() -> None:
    compiled = compile_package(package(PROCESSES, service=SERVICE))
    result = await compiled.run("p", [Document.from_value({})], config={"token": "tok-123"})
    assert result.error is not None and "refused null" in result.error.message
    outputs = result.trace[0].outputs or []
    assert b"tok-123" in b"".join(outputs)  # token not marked secret here


def test_every_textual_form_is_masked() -> None:
    redactor = Redactor([SECRET, ""])
    assert redactor.text(f"a {SECRET} b") == f"a {MASK} b"
    assert redactor.text("q=p%40ss%20word%2F%C3%BC") == f"q={MASK}"  # URL-encoded
    assert redactor.text("q=p%40ss+word%2F%C3%BC") == f"q={MASK}"  # form-encoded
    assert redactor.data(b'{"k": "p@ss word/\xc3\xbc"}') == f'{{"k": "{MASK}"}}'.encode()
    assert not Redactor([""])


def test_the_log_filter_masks_only_inside_an_execution_with_secrets() -> None:
    from executors.runtime.redaction import ACTIVE

    record = logging.LogRecord("httpx", logging.INFO, "", 0, "GET %s", (f"/x?k={SECRET}",), None)
    assert SecretLogFilter().filter(record) and record.getMessage() == f"GET /x?k={SECRET}"
    token = ACTIVE.set(Redactor([SECRET]))
    try:
        assert SecretLogFilter().filter(record)
    finally:
        ACTIVE.reset(token)
    assert record.getMessage() == f"GET /x?k={MASK}"
