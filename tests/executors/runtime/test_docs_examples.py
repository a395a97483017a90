"""Every example in docs/steps.md runs and gives what the page says."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from executors.runtime import load_package
from executors.runtime.policy import RuntimePolicy
from executors.testing import run_process, values

DOCS = Path(__file__).resolve().parents[3] / "docs"
FENCE = re.compile(r"^```([\w-]+)[ \t]*(\w*)\n(.*?)^```", re.S | re.M)
HEADING = re.compile(r"^## (.+)$", re.M)


@dataclass
class Example:
    title: str
    process: str
    documents: list[Any] = field(default_factory=lambda: [{}])
    output: list[Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)


def _examples() -> list[Example]:
    text = (DOCS / "steps.md").read_text()
    headings = [(m.start(), m.group(1)) for m in HEADING.finditer(text)]
    examples: list[Example] = []
    for match in FENCE.finditer(text):
        language, role, body = match.groups()
        if (language, role) == ("yaml", "example"):
            title = [h for start, h in headings if start < match.start()][-1]
            examples.append(Example(f"{title} #{len(examples)}", body))
        elif language == "json" and role in ("input", "output", "result"):
            example = examples[-1]
            value = json.loads(body)
            if role == "input":
                example.documents = value
            elif role == "output":
                example.output = value
            else:
                example.result = value
    return examples


EXAMPLES = _examples()


def _package(example: Example) -> tuple[str, str]:
    """The package text for an example and the process to run."""
    data = yaml.safe_load(example.process)
    processes = data.get("processes", {"example": data})
    package = {"name": "docs", "version": "1", "service": {"path": "docs"}, "processes": processes}
    return yaml.safe_dump(package, sort_keys=False), next(iter(processes))


class Orders(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        order_id = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"orderId": order_id, "state": "open"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def api_base() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_the_page_has_an_example_for_every_builtin_step() -> None:
    titles = {example.title.split(" #")[0] for example in EXAMPLES}
    builtins = {"map", "set", "decision", "route", "branch", "filter", "split", "combine", "http"}
    builtins |= {"try", "fail", "stop", "return", "log", "call", "sleep"}
    assert builtins <= titles
    assert all(example.output is not None for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.title for e in EXAMPLES])
async def test_example(example: Example, api_base: str) -> None:
    source, process = _package(example)
    result = await run_process(
        source,
        process,
        example.documents,
        config={"apiBase": api_base},
        execution_id="docs",
        policy=RuntimePolicy(allow_loopback=True),  # the examples' API is on 127.0.0.1
    )
    expected_status = example.result.get("status", "ok")
    assert result.status == expected_status, result.error
    assert values(result) == example.output
    if "error" in example.result:
        assert result.error is not None
        assert result.error.message == example.result["error"]
        assert result.error.step_path == example.result["step_path"]
    if "outcome" in example.result:
        assert result.outcome == example.result["outcome"]
    if "faults" in example.result:
        assert result.faults == example.result["faults"]
    if "properties" in example.result:
        assert [d.properties for d in result.documents] == example.result["properties"]


def test_the_package_reference_example_loads() -> None:
    text = (DOCS / "packages.md").read_text()
    blocks = [body for language, role, body in FENCE.findall(text) if role == "package"]
    assert blocks, "docs/packages.md has no ```yaml package block"
    for block in blocks:
        load_package(block)
