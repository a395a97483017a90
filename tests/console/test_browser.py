"""The console in a real browser: Debian's headless chromium, driven by playwright, against a
real cluster (gateway and executor processes on ports from the OS).

One walk through the console as an operator would take it: sign in, watch an executor restart
on the live runtimes page, deploy a broken package and read its error at its path, deploy a
good one and roll back, open an execution's step trace and its WAIT story, redeliver a dead
callback, add a user and see its token once, sign out.

With FLOWHOST_CONSOLE_SCREENSHOTS=<folder> it also saves a screenshot of each page there (how
docs/images/console-*.png are made).
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.client import admin_from
from flowhost.devcluster import Cluster
from tests.e2e.cluster import ROOT, assert_eventually, running_cluster

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
WAITS = ROOT / "tests" / "e2e" / "packages" / "waits.yaml"
SHOP = ROOT / "flowhost" / "examples" / "shop.yaml"
SHOTS = os.environ.get("FLOWHOST_CONSOLE_SCREENSHOTS", "")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install -y chromium); the console's "
        "browser test drives it and never downloads a browser",
        allow_module_level=True,
    )


class FailingOnce:
    """Flow's callback endpoint: refuses the first callback (so it is dead-lettered with one
    attempt), accepts the rest."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                status = 503 if not receiver.calls else 200
                receiver.calls.append(status)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/run/1/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Iterator[FailingOnce]:
    running = FailingOnce()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOWHOST_CALLBACK_ATTEMPTS", "1")
        env.setenv("FLOWHOST_CALLBACK_POLL_INTERVAL_S", "0.1")
        env.setenv("FLOWHOST_HISTORY_FLUSH_INTERVAL_S", "0.1")
        env.setenv("FLOWHOST_CALLBACK_HOSTS", '{"default": ["127.0.0.1"]}')
        with running_cluster(tmp_path_factory.mktemp("console"), executors=1) as running:
            yield running


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


def _wait_for_a_dead_callback(cluster: Cluster, receiver: FailingOnce) -> str:
    """A WAIT answered by the `slow` action, whose callback the receiver refuses: its id."""
    with cluster.client() as client:
        token = client.add_user("default", "carol")["token"]
    answer = httpx.post(
        f"{cluster.url}/fs/waits/actions/slow",
        auth=("carol", token),
        json={
            "token": "tok-1",
            "callbackUri": receiver.url,
            "inputs": [
                {"developerName": "name", "contentType": "ContentString", "contentValue": "ann"}
            ],
        },
        timeout=30,
    )
    assert answer.json()["invokeType"] == "WAIT", answer.text

    def dead() -> str:
        with cluster.client() as client:
            rows = client.request("GET", "/api/callbacks", params={"state": "dead"})
        assert rows, "no dead callback yet"
        return str(rows[0]["execution_id"])

    return assert_eventually(dead, timeout_s=15)


def test_an_operator_walks_through_the_console(
    cluster: Cluster, receiver: FailingOnce, tmp_path: Path
) -> None:
    with cluster.client() as client:  # what `flowhost deploy` calls, without its start-up
        for package in (WAITS, SHOP):
            client.deploy("default", package.read_text(), dry_run=False)
        flow_token = client.add_user("default", "flow-shop")["token"]
    execution_id = _wait_for_a_dead_callback(cluster, receiver)
    user, password = admin_from(cluster.data_dir)

    def flow_status() -> int:
        """What Flow gets from the shop service's describe endpoint now."""
        url = f"{cluster.url}/fs/shop/metadata"
        return httpx.get(url, auth=("flow-shop", flow_token), timeout=10).status_code

    executor = cluster.children[0]
    address = cluster.executor_addresses[0]
    expect = sync_api.expect
    expect.set_options(timeout=10_000)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

        # Sign in (no Basic-auth prompt: a form).
        page.goto(cluster.url + "/")
        expect(page).to_have_url(re.compile(r"/console/signin$"))
        _shot(page, "signin")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        expect(page.locator(".notice.error")).to_contain_text("Wrong user name or password")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")

        # The runtime and its executor, live: kill the executor and start it again, and watch
        # the page (never reloaded) follow.
        row = page.locator(f"tr.executor[data-address='{address}']")
        expect(row).to_contain_text("ready")
        expect(page.locator("section.runtime[data-runtime=default] h2")).to_contain_text(
            "1/1 ready"
        )
        first_id = row.locator("td").nth(1).inner_text()
        _shot(page, "runtimes")
        assert executor.process is not None
        executor.process.send_signal(signal.SIGKILL)
        executor.process.wait(10)
        expect(row).to_contain_text("not ready")
        executor.start()
        expect(row.locator(".badge")).to_have_text("ready", timeout=20_000)
        assert row.locator("td").nth(1).inner_text() != first_id  # a new process

        # Services: what the runtime serves, and the traffic of each listener.
        assert flow_status() == 200
        page.click("nav >> text=Services")
        shop = page.locator("section.service[data-service=shop]")
        expect(shop).to_contain_text("quote")
        expect(shop.locator(".active-version")).to_have_text("1.2.0")
        expect(shop.locator(".traffic")).to_contain_text("1 requests")

        # Pause the listener: Flow is answered 503 listener_paused; resume: 200 again.
        shop.locator("input[name=reason]").fill("maintenance")
        shop.locator("button", has_text="Pause listener").click()
        expect(page.locator(".notice")).to_contain_text("/fs/shop in default is paused")
        expect(shop.locator(".listener")).to_contain_text("maintenance")
        assert flow_status() == 503
        _shot(page, "services")
        shop.locator("button", has_text="Resume listener").click()
        expect(page.locator(".notice")).to_contain_text("/fs/shop in default is serving")
        assert flow_status() == 200

        # Deploy a broken package by upload: the error at its path.
        source = SHOP.read_text()
        broken = tmp_path / "shop-broken.yaml"
        broken.write_text(source.replace("- return:", "- retrun:", 1))
        page.click("nav >> text=Deployments")
        page.set_input_files("input[name=package]", str(broken))
        page.click("form.deploy button[type=submit]")
        issue = page.locator("tr.issue").first
        expect(issue.locator(".issue-path")).to_contain_text("processes.")
        expect(issue).to_contain_text("retrun")
        _shot(page, "deploy-error")

        # A good second version, then roll back to the first.
        good = tmp_path / "shop-2.yaml"
        good.write_text(source.replace("version: 1.2.0", "version: 2.0.0", 1))
        page.set_input_files("input[name=package]", str(good))
        page.click("form.deploy button[type=submit]")
        expect(page.locator(".notice")).to_contain_text("shop 2.0.0 deployed to default")
        shop_versions = page.locator("section.package[data-package=shop]")
        expect(shop_versions.locator("h2")).to_contain_text("2.0.0 active")
        _shot(page, "deployments")
        shop_versions.locator("text=Roll back to the previous version").click()
        expect(page.locator(".notice")).to_contain_text("version 1.2.0 is active")
        expect(shop_versions.locator("h2")).to_contain_text("1.2.0 active")

        # Executions: filter, open the WAIT execution, read its trace and its callback story.
        page.click("nav >> text=Executions")
        page.select_option("select[name=package]", "waits")
        page.click("form.filters button[type=submit]")
        listed = page.locator(f"tr.execution[data-id='{execution_id}']")
        expect(listed).to_contain_text("WAIT")
        _shot(page, "executions")
        listed.locator("a").click()
        steps = page.locator("table.trace tr.step")
        expect(steps).to_have_count(3)
        expect(steps.nth(0)).to_contain_text("sleep")
        expect(steps.nth(1).locator(".step-path")).to_contain_text("processes.slow.steps[1]")
        expect(page.locator("table.trace")).to_contain_text("hello ann")  # recorded (general)
        expect(page.locator("table.callbacks tr.callback")).to_contain_text("dead")
        expect(page.locator("table.callbacks")).to_contain_text("503")
        page.locator("table.trace details").first.click()
        _shot(page, "execution")

        # Callbacks: redeliver the dead one; the receiver takes it this time.
        page.click("nav >> text=Callbacks")
        page.select_option("select[name=view]", "dead")
        page.click("form.filters button[type=submit]")
        dead = page.locator(f"tr.callback[data-id='{execution_id}']")
        _shot(page, "callbacks")
        dead.locator("button", has_text="Redeliver").click()
        expect(page.locator(".notice")).to_contain_text("queued for delivery")
        page.select_option("select[name=view]", "delivered")

        def delivered() -> None:
            page.click("form.filters button[type=submit]")
            expect(page.locator(f"tr.callback[data-id='{execution_id}']")).to_contain_text(
                "delivered", timeout=500
            )

        assert_eventually(lambda: _retrying(delivered), timeout_s=10)
        assert receiver.calls == [503, 200]

        # Users: add one; its token is shown once and works on the Flow endpoint.
        page.click("nav >> text=Users")
        page.fill("form.add-user input[name=name]", "flow-app")
        page.click("form.add-user button[type=submit]")
        token = page.locator(".issued-token").inner_text()
        _shot(page, "users")
        assert httpx.get(f"{cluster.url}/fs/shop/metadata", auth=("flow-app", token)).is_success
        page.click("nav >> text=Users")
        expect(page.locator("tr.user[data-name=flow-app]")).to_be_visible()
        expect(page.locator(".issued-token")).to_have_count(0)

        # Sign out: the console asks for a sign-in again.
        page.click("header button:text('Sign out')")
        expect(page).to_have_url(re.compile(r"/console/signin$"))
        page.goto(cluster.url + "/console/users")
        expect(page).to_have_url(re.compile(r"/console/signin$"))
        browser.close()
    # No page broke its own content security policy (an inline script or style, say).
    assert not [p for p in problems if "Content Security Policy" in p], problems


def _retrying(check: Any) -> None:
    """playwright's timeouts as AssertionError, for assert_eventually."""
    try:
        check()
    except sync_api.Error as error:
        raise AssertionError(str(error)) from None
