"""The console over HTTP against a real gateway application and a real executor (in-process):
sign-in, sessions, CSRF, security headers, and what each form does."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.inprocess.conftest import ADMIN, EXAMPLES, InProcessCluster, in_process_cluster
from tests.inprocess.test_triggers import docs_example, webhook_only

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# One gateway and executor for the module (starting one is most of a test's time); the tests
# that need other settings start their own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@asynccontextmanager
async def browser(
    cluster: InProcessCluster, address: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client with no credentials of its own, like a browser, at `address`
    (the login throttle counts per address)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cluster.app, client=(address, 50000)),
        base_url="http://gateway",
    ) as client:
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, password: str = ADMIN[1]) -> httpx.Response:
    form = await client.get("/console/signin")
    return await client.post(
        "/console/signin",
        data={"csrf": csrf_of(form), "username": ADMIN[0], "password": password},
    )


async def signed_in(client: httpx.AsyncClient) -> str:
    """Sign in; the session's CSRF token."""
    answer = await sign_in(client)
    assert answer.status_code == 303, answer.text
    return csrf_of(await client.get("/console/"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessCluster]:
    data = tmp_path_factory.mktemp("console")
    # A long first lockout: the test that locks an address out cannot see it end on a slow day.
    async with in_process_cluster(data, login_failures_free=2, login_lockout_s=60) as running:
        await running.deploy((EXAMPLES / "shop.yaml").read_text())
        yield running


async def test_root_and_pages_send_a_stranger_to_the_sign_in_form(
    cluster: InProcessCluster,
) -> None:
    async with browser(cluster) as client:
        root = await client.get("/")
        assert (root.status_code, root.headers["location"]) == (307, "/console/")
        bare = await client.get("/console", follow_redirects=True)
        assert bare.url.path == "/console/signin"
        for path in ("/console/", "/console/users", "/console/executions/x"):
            page = await client.get(path)
            assert (page.status_code, page.headers["location"]) == (303, "/console/signin")
        form = await client.get("/console/signin")
        assert form.status_code == 200
        assert "www-authenticate" not in form.headers  # never a Basic-auth prompt
        assert 'name="password"' in form.text


async def test_signing_in_sets_a_strict_httponly_expiring_cookie(
    cluster: InProcessCluster,
) -> None:
    async with browser(cluster) as client:
        answer = await sign_in(client)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("flowhost-console=")
        )
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite", "max-age", "path"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
        home = await client.get("/console/")
        assert home.status_code == 200
        assert "Runtimes and executors" in home.text
        for executor in cluster.executors:
            assert executor.address in home.text


async def test_a_wrong_password_is_refused_and_throttled_with_the_api(
    cluster: InProcessCluster,
) -> None:
    async with browser(cluster, "192.0.2.7") as client:
        first = await sign_in(client, "wrong")
        assert first.status_code == 401
        assert "Wrong user name or password" in first.text
        assert "flowhost-console=" not in first.headers.get("set-cookie", "")
        await sign_in(client, "wrong")
        # Two free failures (the fixture's LOGIN_FAILURES_FREE), the third locks the address out:
        # the API and the console count against the same throttle.
        third = await sign_in(client, "wrong")
        assert third.status_code == 401
        locked = await sign_in(client)  # even the right password waits
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
        api = await client.get("/api/runtimes", auth=ADMIN)
        assert api.status_code == 429
    async with browser(cluster, "192.0.2.8") as elsewhere:  # other addresses are not slowed
        assert (await sign_in(elsewhere)).status_code == 303


async def test_the_sign_in_form_needs_its_own_csrf_token(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        await client.get("/console/signin")  # the cookie half, but a forged form
        forged = await client.post(
            "/console/signin",
            data={"csrf": "forged", "username": ADMIN[0], "password": ADMIN[1]},
        )
        assert forged.status_code == 403
        assert "CSRF" in forged.text
        client.cookies.clear()
        cookieless = await client.post(
            "/console/signin", data={"username": ADMIN[0], "password": ADMIN[1], "csrf": "x"}
        )
        assert cookieless.status_code == 403


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    cluster: InProcessCluster,
) -> None:
    async with browser(cluster) as client:
        token = await signed_in(client)
        for data in (
            {"runtime": "default", "name": "mallory"},
            {
                "runtime": "default",
                "name": "mallory",
                "csrf": token[:-2] + "xx",
            },
        ):
            refused = await client.post("/console/users", data=data)
            assert refused.status_code == 403, refused.text
        cross_site = await client.post(
            "/console/users",
            data={"runtime": "default", "name": "mallory", "csrf": token},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert cross_site.status_code == 403
        users = await cluster.api.get("/api/users")
        assert "mallory" not in [u["name"] for u in users.json()]


async def test_a_csrf_token_of_another_session_is_refused(cluster: InProcessCluster) -> None:
    async with browser(cluster) as first, browser(cluster) as second:
        token = await signed_in(first)
        await signed_in(second)
        refused = await second.post(
            "/console/users", data={"runtime": "default", "name": "mallory", "csrf": token}
        )
        assert refused.status_code == 403


async def test_signing_out_invalidates_the_cookie(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        token = await signed_in(client)
        cookie = client.cookies["flowhost-console"]
        out = await client.post("/console/signout", data={"csrf": token})
        assert (out.status_code, out.headers["location"]) == (303, "/console/signin")
        client.cookies.set("flowhost-console", cookie)  # replayed, as a thief would
        again = await client.get("/console/users")
        assert (again.status_code, again.headers["location"]) == (303, "/console/signin")


async def test_an_expired_session_cookie_is_refused(tmp_path: Path) -> None:
    async with (
        in_process_cluster(tmp_path, console_session_s=0.5) as cluster,
        browser(cluster) as client,
    ):
        await signed_in(client)
        await asyncio.sleep(0.6)
        expired = await client.get("/console/")
        assert (expired.status_code, expired.headers["location"]) == (303, "/console/signin")
        live = await client.get("/console/fragments/runtimes", headers={"hx-request": "true"})
        assert (live.status_code, live.headers["hx-redirect"]) == (401, "/console/signin")


async def test_pages_carry_the_security_headers(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        await signed_in(client)
        for path in ("/console/signin", "/console/", "/console/users"):
            page = await client.get(path, follow_redirects=True)
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
            assert "frame-ancestors 'none'" in csp
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["cache-control"] == "no-store"
            assert "<script>" not in page.text  # no inline script for the CSP to block
        script = await client.get("/console/static/htmx.min.js")
        assert script.status_code == 200
        assert "no-store" not in script.headers.get("cache-control", "")


async def test_the_console_session_does_not_open_the_management_api(
    cluster: InProcessCluster,
) -> None:
    async with browser(cluster) as client:
        await signed_in(client)
        read = await client.get("/api/users")
        assert read.status_code == 401
        change = await client.post(
            "/api/runtimes/default/users", json={"name": "mallory"}, auth=ADMIN
        )
        assert change.status_code == 403  # still needs X-Flowhost-Client
        assert change.json()["error"] == "client_header_required"


async def test_an_invalid_package_shows_each_issue_at_its_path(cluster: InProcessCluster) -> None:
    source = (EXAMPLES / "shop.yaml").read_text().replace("version: ", "version: 9", 1)
    broken = source.replace("- return:", "- retrun:", 1)
    assert broken != source
    async with browser(cluster) as client:
        token = await signed_in(client)
        answer = await client.post(
            "/console/deployments",
            data={"csrf": token, "runtime": "default"},
            files={"package": ("shop.yaml", broken.encode(), "application/yaml")},
        )
        assert answer.status_code == 422, answer.text
        paths = re.findall(r'<code class="issue-path">([^<]+)</code>', answer.text)
        assert paths and all(p.startswith("processes.") for p in paths), answer.text
        assert "retrun" in answer.text
        versions = await cluster.api.get("/api/runtimes/default/packages")
        assert "91.1.0" not in [v["version"] for v in versions.json()]


async def test_a_package_that_is_not_utf8_is_refused(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        token = await signed_in(client)
        answer = await client.post(
            "/console/deployments",
            data={"csrf": token, "runtime": "default"},
            files={"package": ("shop.yaml", b"name: \xff\xfe", "application/yaml")},
        )
        assert answer.status_code == 400
        assert "not UTF-8" in answer.text


async def test_a_form_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    async with (
        in_process_cluster(tmp_path, package_max_bytes=1000) as cluster,
        browser(cluster) as client,
    ):
        token = await signed_in(client)
        answer = await client.post(
            "/console/deployments",
            data={"csrf": token, "runtime": "default"},
            files={"package": ("big.yaml", b"x" * 200_000, "application/yaml")},
        )
        assert answer.status_code == 413
        assert "FLOWHOST_PACKAGE_MAX_BYTES" in answer.text


async def deploy_v2(cluster: InProcessCluster) -> None:
    source = (EXAMPLES / "shop.yaml").read_text()
    version = re.search(r"^version: *(\S+)", source, re.M)
    assert version
    await cluster.deploy(source.replace(version.group(0), "version: 99.0.0", 1))


async def test_rollback_activates_the_previous_version(cluster: InProcessCluster) -> None:
    await deploy_v2(cluster)
    async with browser(cluster) as client:
        token = await signed_in(client)
        page = await client.get("/console/deployments")
        assert "99.0.0 active" in page.text
        answer = await client.post(
            "/console/deployments/rollback",
            data={"csrf": token, "runtime": "default", "name": "shop"},
            follow_redirects=True,
        )
        assert answer.status_code == 200
        assert "is active." in answer.text  # the notice, once
        versions: list[dict[str, Any]] = (
            await cluster.api.get("/api/runtimes/default/packages")
        ).json()
        assert [v["version"] for v in versions if v["active"]] != ["99.0.0"]
        again = await client.get("/console/deployments")
        assert "is active." not in again.text


async def test_a_user_is_added_with_its_token_shown_once(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        token = await signed_in(client)
        added = await client.post(
            "/console/users", data={"csrf": token, "runtime": "default", "name": "flow-app"}
        )
        assert added.status_code == 201
        assert added.headers["cache-control"] == "no-store"
        shown = re.search(r'<code class="issued-token">([^<]+)</code>', added.text)
        assert shown
        async with cluster.flow(("flow-app", shown.group(1))) as flow:
            health = await flow.get("/fs/shop/metadata")
            assert health.status_code == 200
        listing = await client.get("/console/users")
        assert "flow-app" in listing.text and shown.group(1) not in listing.text
        bad = await client.post(
            "/console/users", data={"csrf": token, "runtime": "default", "name": "no spaces"}
        )
        assert bad.status_code == 400
        twice = await client.post(
            "/console/users", data={"csrf": token, "runtime": "default", "name": "flow-app"}
        )
        assert twice.status_code == 409


async def test_rotate_and_remove_a_user(cluster: InProcessCluster) -> None:
    name, old = await cluster.user("rotated")
    async with browser(cluster) as client:
        token = await signed_in(client)
        rotated = await client.post("/console/users/rotate", data={"csrf": token, "name": name})
        new = re.search(r'<code class="issued-token">([^<]+)</code>', rotated.text)
        assert new and new.group(1) != old
        async with cluster.flow((name, old)) as flow:
            assert (await flow.get("/fs/shop/metadata")).status_code == 401
        removed = await client.post(
            "/console/users/remove", data={"csrf": token, "name": name}, follow_redirects=True
        )
        assert "is removed" in removed.text
        async with cluster.flow((name, new.group(1))) as flow:
            assert (await flow.get("/fs/shop/metadata")).status_code == 401
        unknown = await client.post(
            "/console/users/remove", data={"csrf": token, "name": "nobody"}, follow_redirects=True
        )
        assert "nobody" in unknown.text and 'class="notice error"' in unknown.text


async def test_an_unknown_execution_is_a_404_page(cluster: InProcessCluster) -> None:
    async with browser(cluster) as client:
        await signed_in(client)
        missing = await client.get("/console/executions/nope")
        assert missing.status_code == 404
        assert "no execution 'nope'" in html.unescape(missing.text)
        bad_since = await client.get("/console/executions", params={"since": "yesterday"})
        assert bad_since.status_code == 200
        assert "expected a duration like 15m" in bad_since.text


async def test_over_https_the_cookie_is_secure_and_host_bound(cluster: InProcessCluster) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cluster.app), base_url="https://gateway"
    ) as client:
        answer = await sign_in(client)
        assert answer.status_code == 303, answer.text
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-flowhost-")
        )
        assert "secure" in cookie.lower() and "path=/" in cookie.lower()
        assert "domain" not in cookie.lower()
        assert (await client.get("/console/users")).status_code == 200


async def test_the_services_page_lists_triggers_and_pauses_one(cluster: InProcessCluster) -> None:
    await cluster.deploy(webhook_only(docs_example()))
    async with browser(cluster) as client:
        token = await signed_in(client)
        page = await client.get("/console/services")
        assert '<tr data-trigger="nightly">' in page.text and "schedule" in page.text
        answer = await client.post(
            "/console/services/pause",
            data={"csrf": token, "runtime": "default", "service": "orders#nightly"},
            follow_redirects=True,
        )
        assert "trigger orders#nightly in default is paused." in answer.text
        listeners = (await cluster.api.get("/api/listeners")).json()
        row = next(r for r in listeners if r["service"] == "orders#nightly")
        assert (row["kind"], row["paused"]) == ("schedule", True)
        resumed = await client.post(
            "/console/services/resume",
            data={"csrf": token, "runtime": "default", "service": "orders#nightly"},
            follow_redirects=True,
        )
        assert "trigger orders#nightly in default is serving." in resumed.text
