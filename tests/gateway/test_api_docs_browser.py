"""/docs and /redoc in a real browser with no network but the gateway (issue 14).

Debian's chromium driven by Playwright (never a downloaded browser), against the real gateway
application served by uvicorn on a port of its own. Every request to anywhere else is blocked
and recorded: the pages must render the operations all the same, and must not even try.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = ("admin", "browser-secret")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture
def gateway_url(tmp_path: Path) -> Iterator[str]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        admin_password=ADMIN[1],
        history_writer_process=False,
        link_token="browser-cluster-token",
    )
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings), lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        ("/docs", ".opblock-summary-path[data-path='/api/listeners/pause']"),
        ("/redoc", "h2:has-text('Pause a service')"),
    ],
)
def test_the_docs_render_with_no_network(gateway_url: str, page: str, rendered: str) -> None:
    elsewhere: list[str] = []
    console: list[str] = []

    def only_the_gateway(route: sync_api.Route) -> None:
        if route.request.url.startswith(gateway_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(
                http_credentials={"username": ADMIN[0], "password": ADMIN[1]}
            )
            context.route("**/*", only_the_gateway)
            tab = context.new_page()
            tab.on("console", lambda message: console.append(message.text))
            tab.goto(gateway_url + page)
            tab.wait_for_selector(rendered, timeout=30_000)
            assert tab.locator(rendered).first.is_visible()
        finally:
            browser.close()
    assert elsewhere == []
    # The pages' policy refuses what would leave (ReDoc's logo), never what they need.
    refusals = [m for m in console if "Content Security Policy" in m]
    assert all("cdn.redoc.ly" in m for m in refusals), refusals
