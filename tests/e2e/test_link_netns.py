"""The production path of the executor link: a gateway and an executor on different addresses, in
two network namespaces joined by a veth pair, authenticated by mTLS only (no token). A Flow
request sent to the gateway is answered by the executor across the link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowhost.link import ensure_link
from tests.netns import in_ns, ip

ROOT = Path(__file__).resolve().parents[2]
PORT = 50051

CLIENT = r"""
import json, sys, time
import httpx
from flowhost.client import ManagementClient

url, package = sys.argv[1], sys.argv[2]
quote = {"inputs": [
    {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
    {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
    {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
]}
deadline = time.monotonic() + 60
executors = []
with ManagementClient(url, ("admin", "netns-admin-password")) as client:
    while True:
        try:
            executors = client.request("GET", "/api/executors")
            if executors and all(e["ready"] for e in executors):
                break
        except Exception as error:
            executors = [str(error)]
        if time.monotonic() > deadline:
            print(json.dumps({"not_ready": executors}))
            sys.exit(1)
        time.sleep(0.2)
    client.deploy("default", open(package).read(), dry_run=False)
    user = client.add_user("default", "flow")
answer = httpx.post(
    f"{url}/fs/shop/actions/quote", json=quote, auth=(user["name"], user["token"]), timeout=30
)
print(json.dumps({"executors": executors, "status": answer.status_code, "body": answer.json()}))
"""


@dataclass
class Pair:
    gateway_ns: str
    executor_ns: str
    gateway_ip: str
    executor_ip: str


@pytest.fixture
def namespaces() -> Iterator[Pair]:
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    tag = f"{os.getpid() % 100000}"
    subnet = os.getpid() % 250 + 1
    pair = Pair(f"fh-gw-{tag}", f"fh-ex-{tag}", f"10.200.{subnet}.1", f"10.200.{subnet}.2")
    made = ip("netns", "add", pair.gateway_ns)
    if made.returncode != 0:
        pytest.skip(f"ip netns is not permitted here: {made.stderr.strip()}")
    try:
        veth_gw, veth_ex = f"fhg{tag}", f"fhe{tag}"
        steps = [
            ("netns", "add", pair.executor_ns),
            ("link", "add", veth_gw, "type", "veth", "peer", "name", veth_ex),
            ("link", "set", veth_gw, "netns", pair.gateway_ns),
            ("link", "set", veth_ex, "netns", pair.executor_ns),
            ("-n", pair.gateway_ns, "addr", "add", f"{pair.gateway_ip}/24", "dev", veth_gw),
            ("-n", pair.executor_ns, "addr", "add", f"{pair.executor_ip}/24", "dev", veth_ex),
            ("-n", pair.gateway_ns, "link", "set", veth_gw, "up"),
            ("-n", pair.executor_ns, "link", "set", veth_ex, "up"),
            ("-n", pair.gateway_ns, "link", "set", "lo", "up"),
            ("-n", pair.executor_ns, "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = ip(*step)
            if done.returncode != 0:
                pytest.skip(
                    f"cannot set up the namespace pair (ip {' '.join(step)}): {done.stderr}"
                )
        yield pair
    finally:
        ip("netns", "del", pair.gateway_ns)
        ip("netns", "del", pair.executor_ns)


def test_a_flow_request_crosses_an_mtls_link_between_namespaces(
    namespaces: Pair, tmp_path: Path
) -> None:
    files = ensure_link(tmp_path / "link", mtls=True)
    assert files.ca and files.executor_cert and files.executor_key
    assert files.gateway_cert and files.gateway_key
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWHOST_")}
    clean["PYTHONPATH"] = str(ROOT)
    executor_env = {
        **clean,
        "FLOWHOST_EXECUTOR_HOST": namespaces.executor_ip,
        "FLOWHOST_EXECUTOR_PORT": str(PORT),
        "FLOWHOST_EXECUTOR_LINK_TLS_CERT_FILE": str(files.executor_cert),
        "FLOWHOST_EXECUTOR_LINK_TLS_KEY_FILE": str(files.executor_key),
        "FLOWHOST_EXECUTOR_LINK_TLS_CA_FILE": str(files.ca),
    }
    gateway_env = {
        **clean,
        "FLOWHOST_HOST": "127.0.0.1",
        "FLOWHOST_PORT": "8080",
        "FLOWHOST_DATA_DIR": str(tmp_path / "gateway"),
        "FLOWHOST_ADMIN_PASSWORD": "netns-admin-password",
        "FLOWHOST_EXECUTOR_TARGETS": f"{namespaces.executor_ip}:{PORT}",
        "FLOWHOST_DISCOVERY_INTERVAL_S": "0.5",
        "FLOWHOST_LINK_TLS_CERT_FILE": str(files.gateway_cert),
        "FLOWHOST_LINK_TLS_KEY_FILE": str(files.gateway_key),
        "FLOWHOST_LINK_TLS_CA_FILE": str(files.ca),
    }
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("executor", "gateway")}
    processes = [
        subprocess.Popen(
            in_ns(namespaces.executor_ns, sys.executable, "-m", "executors"),
            env=executor_env,
            stdout=logs["executor"],
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        ),
        subprocess.Popen(
            in_ns(namespaces.gateway_ns, sys.executable, "-m", "gateway"),
            env=gateway_env,
            stdout=logs["gateway"],
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        ),
    ]
    try:
        client = subprocess.run(
            in_ns(
                namespaces.gateway_ns,
                *(sys.executable, "-c", CLIENT, "http://127.0.0.1:8080"),
                str(ROOT / "flowhost" / "examples" / "shop.yaml"),
            ),
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()
    gateway_log = (tmp_path / "gateway.log").read_text()
    assert client.returncode == 0, client.stdout + client.stderr + gateway_log
    seen = json.loads(client.stdout.strip().splitlines()[-1])
    [executor] = seen["executors"]
    assert executor["address"] == f"{namespaces.executor_ip}:{PORT}"
    assert seen["status"] == 200, seen
    outputs = {o["developerName"]: o["contentValue"] for o in seen["body"]["outputs"]}
    assert float(outputs["total"]) == 37.5
    assert "not of this cluster" not in gateway_log
