"""The shared web server as Boomi's offers it: HTTPS, client certificates, per-user IP
allow-lists and services, a private data folder. One `flowhost up --tls-cert/--tls-key`, run as
a user runs it, serves the whole module; every request goes over TLS verified against the
test CA, and every test ends by checking the cluster still serves a normal request."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowhost.client import CLIENT_HEADERS, admin_from
from flowhost.devcluster import Cluster, free_port
from tests.security.certificates import Certificates, make_certificates, needs_openssl
from tests.security.conftest import QUOTE

pytestmark = needs_openssl
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[Cluster]:
    """`flowhost up` over HTTPS, asking clients for certificates signed by the test CA."""
    data_dir = tmp_path_factory.mktemp("tls-cluster") / "data"
    http_port = free_port()
    env = {
        **os.environ,
        "FLOWHOST_TLS_CLIENT_CA_FILE": str(certificates.ca),
        "FLOWHOST_TLS_CA_FILE": str(certificates.ca),  # the CLI's trust
    }
    log = (data_dir.parent / "up.log").open("wb")
    up = subprocess.Popen(
        [
            sys.executable, "-m", "flowhost.cli.main", "up", "--data-dir", str(data_dir),
            "--http-port", str(http_port),
            "--tls-cert", str(certificates.server.cert),
            "--tls-key", str(certificates.server.key),
        ],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    cluster = Cluster(data_dir=data_dir, http_port=http_port, tls_cert=certificates.server.cert)
    try:
        deadline = time.monotonic() + 120
        while b"flowhost is up" not in (data_dir.parent / "up.log").read_bytes():
            assert up.poll() is None, (data_dir.parent / "up.log").read_text()
            assert time.monotonic() < deadline, "flowhost up did not come up in 120 s"
            time.sleep(0.3)
        yield cluster
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        log.close()


@pytest.fixture(scope="module")
def flow_auth(cluster: Cluster) -> tuple[str, str]:
    return cluster.demo_user()  # made by `up`, kept in demo-user.json


def flowhost_cli(cluster: Cluster, certificates: Certificates, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flowhost.cli.main", *args, "--url", cluster.url,
         "--data-dir", str(cluster.data_dir)],
        env={**os.environ, "FLOWHOST_TLS_CA_FILE": str(certificates.ca), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def quote(cluster: Cluster, certificates: Certificates, **kwargs: object) -> httpx.Response:
    client = kwargs.pop("client", None)
    with httpx.Client(verify=certificates.context(client), timeout=30) as http:  # type: ignore[arg-type]
        return http.post(f"{cluster.url}/fs/shop/actions/quote", json=QUOTE, **kwargs)  # type: ignore[arg-type]


def assert_serving_tls(cluster: Cluster, certificates: Certificates, auth: tuple[str, str]) -> None:
    """conftest's assert_serving, over HTTPS verified against the test CA."""
    response = quote(cluster, certificates, auth=auth)
    assert response.status_code == 200, response.text
    outputs = {o["developerName"]: o["contentValue"] for o in response.json()["outputs"]}
    assert float(outputs["total"]) == 37.5


def problem(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers.get("x-manywho-service-problem-kind") == "service", response.text
    body = response.json()
    return response.status_code, body["code"], body["message"]


def test_a_flow_request_over_https_is_answered(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    assert cluster.url.startswith("https://")
    assert_serving_tls(cluster, certificates, flow_auth)
    # A client that does not trust the test CA refuses the server: it really is TLS.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{cluster.url}/health", timeout=10)
    # The CLI's probe works against https with the CA, and fails without it.
    probe = [sys.executable, "-m", "flowhost.cli.main", "probe", cluster.url]
    env = {k: v for k, v in os.environ.items() if k != "FLOWHOST_TLS_CA_FILE"}
    ok = subprocess.run(
        [*probe, "--ca-file", str(certificates.ca)], env=env, capture_output=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_a_client_certificate_logs_in_the_user_bound_to_it(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    out = flowhost_cli(
        cluster, certificates, "users", "add", "cert-user", "--client-cert",
        str(certificates.client.cert),
    )  # fmt: skip
    assert "client certificate sha256" in out
    response = quote(cluster, certificates, client=certificates.client)  # no basic auth at all
    assert response.status_code == 200, response.text
    executions = flowhost_cli(cluster, certificates, "executions", "--limit", "5")
    assert "quote" in executions

    # A certificate the CA signed but no user is bound to: not logged in.
    status, code, _ = problem(quote(cluster, certificates, client=certificates.unbound))
    assert (status, code) == (401, "unknown_certificate")
    # A certificate of a CA the gateway does not trust: the handshake fails.
    with pytest.raises(httpx.TransportError):
        quote(cluster, certificates, client=certificates.stranger)
    # Unbound from the user, the certificate logs in nobody.
    flowhost_cli(cluster, certificates, "users", "restrict", "cert-user", "--no-client-cert")
    status, code, _ = problem(quote(cluster, certificates, client=certificates.client))
    assert (status, code) == (401, "unknown_certificate")
    assert_serving_tls(cluster, certificates, flow_auth)


def test_an_ip_allow_list_refuses_other_addresses(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    out = flowhost_cli(
        cluster, certificates, "users", "add", "office-user", "--allow-ip", "10.0.0.0/8",
        "--save", str(cluster.data_dir.parent / "office-user.json"),
    )  # fmt: skip
    token = out.split("token: ")[1].split()[0]
    auth = ("office-user", token)
    status, code, message = problem(quote(cluster, certificates, auth=auth))
    assert (status, code) == (403, "address_not_allowed")
    assert "127.0.0.1" in message and "10.0.0.0" not in message  # why, not what is allowed
    # X-Forwarded-For is not believed from a peer that is not a trusted proxy.
    forwarded = quote(cluster, certificates, auth=auth, headers={"x-forwarded-for": "10.1.2.3"})
    assert problem(forwarded)[:2] == (403, "address_not_allowed")

    flowhost_cli(
        cluster, certificates, "users", "restrict", "office-user", "--allow-ip", "127.0.0.0/8"
    )
    assert quote(cluster, certificates, auth=auth).status_code == 200
    assert_serving_tls(cluster, certificates, flow_auth)


def test_a_user_restricted_to_a_service_is_refused_another(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    out = flowhost_cli(
        cluster, certificates, "users", "add", "countries-user", "--service", "countries"
    )
    auth = ("countries-user", out.split("token: ")[1].split()[0])
    status, code, message = problem(quote(cluster, certificates, auth=auth))
    assert (status, code) == (403, "service_not_allowed")
    assert "shop" in message
    with httpx.Client(verify=certificates.context(), timeout=30) as http:
        allowed = http.get(f"{cluster.url}/fs/countries/metadata", auth=auth)
    assert allowed.status_code == 200, allowed.text
    assert_serving_tls(cluster, certificates, flow_auth)


def test_the_data_folder_is_private_after_flowhost_up(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    assert_serving_tls(cluster, certificates, flow_auth)  # the store and logs have been written
    folder = cluster.data_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = set()
    for path in folder.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        names.add(path.name)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert {"flowhost.db", "admin.json", "demo-user.json", "gateway.log"} <= names


def test_hostile_access_rules_are_refused_with_the_field_named(
    cluster: Cluster, certificates: Certificates, flow_auth: tuple[str, str]
) -> None:
    with cluster.client() as client:
        client.add_user("default", "rules-user")
    admin = admin_from(cluster.data_dir)
    url = f"{cluster.url}/api/users/rules-user/access"
    with httpx.Client(
        verify=certificates.context(), auth=admin, timeout=30, headers=CLIENT_HEADERS
    ) as http:
        for change, field in (
            ({"allow_ips": ["10.0.0.0/33"]}, "allow_ips"),
            ({"allow_ips": ["example.com"]}, "allow_ips"),
            ({"allow_ips": ["10.0.0.1"] * 257}, "allow_ips"),
            ({"services": ["../etc"]}, "services"),
            ({"services": ["a" * 1001]}, "services"),
            ({"client_cert_sha256": "00" * 31}, "client_cert_sha256"),
            ({"client_cert_sha256": "zz" * 32}, "client_cert_sha256"),
        ):
            response = http.put(url, json=change)
            assert response.status_code == 422, (change, response.text)
            assert field in response.text
        assert http.get(url).json()["allow_ips"] == []  # nothing was half-applied
        missing = http.put(f"{cluster.url}/api/users/nobody/access", json={"services": []})
        assert missing.status_code == 404, missing.text
        bound = http.put(url, json={"client_cert_sha256": "AB:" * 31 + "AB"})
        assert bound.status_code == 200 and bound.json()["client_cert_sha256"] == "ab" * 32
        with cluster.client() as client:
            client.add_user("default", "cert-holder")
        taken = http.put(
            f"{cluster.url}/api/users/cert-holder/access", json={"client_cert_sha256": "ab" * 32}
        )
        assert taken.status_code == 409 and "rules-user" in taken.text
    assert_serving_tls(cluster, certificates, flow_auth)
