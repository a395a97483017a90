"""Hostile Flow input (issue 12): huge numbers, callbackUris httpx would refuse, bad upload names.

Each test sends what an attacker would send to a running cluster, asserts the precise 4xx (or
the bounded outcome), then that the cluster still answers a normal request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster
from tests.security.conftest import EXAMPLES, assert_serving

WAITS = Path(__file__).resolve().parents[1] / "e2e" / "packages" / "waits.yaml"
HUGE = "1180591620717411303424"  # 2**70: the row
Auth = tuple[str, str]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The examples and a package whose actions answer WAIT; callbacks may go to 127.0.0.1."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOWHOST_CALLBACK_HOSTS", '{"default": ["127.0.0.1"]}')
        env.setenv("FLOWHOST_CALLBACK_POLL_INTERVAL_S", "0.2")
        with running_cluster(tmp_path_factory.mktemp("flowinput")) as running:
            running.deploy_examples(EXAMPLES)
            with running.client() as client:
                client.deploy(running.runtime, WAITS.read_text(), dry_run=False)
            yield running


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def _quote(cluster: Cluster, auth: Auth, **fields: Any) -> httpx.Response:
    inputs = [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-1"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "2"},
    ]
    for item in inputs:
        if item["developerName"] in fields:
            item["contentValue"] = fields.pop(item["developerName"])
    return httpx.post(
        f"{cluster.url}/fs/shop/actions/quote",
        json={"inputs": inputs, **fields},
        auth=auth,
        timeout=30,
    )


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HUGE, "outside the 64-bit integer range"),
        ("-" + HUGE, "outside the 64-bit integer range"),
        ("9223372036854775808", "outside the 64-bit integer range"),  # 2**63
        ("NaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("-inf", "is not a number"),
        ("1e999999", "is out of range"),
        ("7" * 5000, "longer than 100 characters"),  # past CPython's int() limit of 4300
    ],
)
def test_a_number_input_that_no_document_can_hold_is_a_400(
    cluster: Cluster, flow_auth: Auth, text: str, reason: str
) -> None:
    body = _problem(_quote(cluster, flow_auth, quantity=text), 400, "invalid_input")
    assert body["message"].startswith("input 'quantity': "), body
    assert reason in body["message"]
    assert len(body["message"]) < 300  # a 5000-digit value is not echoed back
    assert_serving(cluster, flow_auth)


def test_the_widest_64_bit_integer_is_still_a_number(cluster: Cluster, flow_auth: Auth) -> None:
    response = _quote(cluster, flow_auth, quantity="9223372036854775807", unitPrice="1")
    assert response.status_code == 200, response.text
    total = next(o for o in response.json()["outputs"] if o["developerName"] == "total")
    assert float(total["contentValue"]) == pytest.approx(2**63)


def test_a_process_returning_a_huge_integer_answers_it_as_flow_number_text(
    cluster: Cluster, flow_auth: Auth
) -> None:
    # 2**62 * 16 = 2**66: past what orjson writes as an integer; it goes back as a double.
    response = _quote(cluster, flow_auth, quantity=str(2**62), unitPrice="16")
    assert response.status_code == 200, response.text
    total = next(o for o in response.json()["outputs"] if o["developerName"] == "total")
    assert total["contentType"] == "ContentNumber"
    assert float(total["contentValue"]) == pytest.approx(2**66)
    assert_serving(cluster, flow_auth)


def _countries(cluster: Cluster, auth: Auth, method: str, body: dict[str, Any]) -> httpx.Response:
    request = {"objectDataType": {"developerName": "Country"}, **body}
    return httpx.request(
        method, f"{cluster.url}/fs/countries/data", json=request, auth=auth, timeout=30
    )


def _country(population: str) -> dict[str, Any]:
    values = {"code": "zz", "name": "Nowhere", "population": population}
    return {
        "externalId": None,
        "developerName": "Country",
        "properties": [
            {"developerName": k, "contentType": "ContentString", "contentValue": v}
            for k, v in values.items()
        ],
    }


def test_a_huge_saved_integer_property_is_a_400(cluster: Cluster, flow_auth: Auth) -> None:
    response = _countries(cluster, flow_auth, "PUT", {"objectData": [_country(HUGE)]})
    body = _problem(response, 400, "invalid_object")
    assert "objectData[0]: property 'population'" in body["message"]
    assert "64-bit" in body["message"]
    saved = _countries(cluster, flow_auth, "PUT", {"objectData": [_country("83000000")]})
    assert saved.status_code == 200, saved.text
    assert_serving(cluster, flow_auth)


@pytest.mark.parametrize(
    ("list_filter", "named"),
    [
        (
            {
                "where": [
                    {"columnName": "population", "criteriaType": "EQUAL", "contentValue": HUGE}
                ]
            },
            "listFilter.where[0] on 'population'",
        ),
        ({"limit": HUGE}, "listFilter.limit"),
        ({"offset": "9" * 5000}, "listFilter.offset"),
        ({"id": "1e999999"}, None),  # the id property is text: any id is fine, none matches
    ],
)
def test_huge_numbers_in_a_list_filter(
    cluster: Cluster, flow_auth: Auth, list_filter: dict[str, Any], named: str | None
) -> None:
    response = _countries(cluster, flow_auth, "POST", {"listFilter": list_filter})
    if named is None:
        assert response.status_code == 200, response.text
    else:
        assert named in _problem(response, 400, "invalid_filter")["message"]
    assert_serving(cluster, flow_auth)


@pytest.mark.parametrize("threshold", [HUGE, "nan", "Infinity", "1_000", "1e999"])
def test_a_number_configuration_value_out_of_range_is_a_400(
    cluster: Cluster, flow_auth: Auth, threshold: str
) -> None:
    # bulkThreshold is the operator's (shop.yaml): the operator sets the bad value.
    done = flowhost(cluster, "config", "set", "bulkThreshold", threshold, "--runtime", "default")
    assert done.returncode == 0, done.stderr
    request = {
        "inputs": [
            {"developerName": "orderId", "contentType": "ContentString", "contentValue": "o-1"}
        ],
    }
    try:
        response = httpx.post(
            f"{cluster.url}/fs/shop/actions/triage", json=request, auth=flow_auth, timeout=30
        )
    finally:
        unset = flowhost(cluster, "config", "unset", "bulkThreshold", "--runtime", "default")
        assert unset.returncode == 0, unset.stderr
    body = _problem(response, 400, "invalid_config")
    assert "configuration value 'bulkThreshold'" in body["message"]
    assert_serving(cluster, flow_auth)


# -- callbacks -------------------------------------------------------------------------------


def _callbacks(cluster: Cluster, execution_id: str) -> list[dict[str, Any]]:
    with cluster.client() as client:
        rows: list[dict[str, Any]] = client.callbacks(None, None)
    return [r for r in rows if r["execution_id"] == execution_id]


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:9/api/run/1/response\r\nX-Injected: yes",
        "http://127.0.0.1:9/api/run 1/response",
        "http://127.0.0.1:99999/api/run/1/response",
        "http:///api/run/1/response",
        "ftp://127.0.0.1/api/run/1/response",
        "file:///etc/passwd",
        "http://127.0.0.1/" + "a" * 5000,
    ],
)
def test_a_callback_uri_httpx_would_refuse_is_a_400_and_owes_nothing(
    cluster: Cluster, flow_auth: Auth, uri: str
) -> None:
    response = httpx.post(
        f"{cluster.url}/fs/waits/actions/slow",
        json={"token": "t", "tenantId": "ten-1", "callbackUri": uri, "inputs": []},
        auth=flow_auth,
        timeout=30,
    )
    body = _problem(response, 400, "bad_callback_uri")
    assert body["message"].startswith("callbackUri ")
    assert "\r" not in body["message"] and len(body["message"]) < 300
    assert _callbacks(cluster, response.headers["x-flowhost-execution-id"]) == []
    assert_serving(cluster, flow_auth)


class Receiver:
    """A Flow callback endpoint on port 0 that answers every POST with one status."""

    def __init__(self, status: int) -> None:
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.calls += 1
                self.send_response(status)
                self.send_header("content-length", "9")
                self.end_headers()
                self.wfile.write(b"not here!")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_404() -> Iterator[Receiver]:
    receiver = Receiver(404)
    yield receiver
    receiver.close()


def _wait_then_dead(cluster: Cluster, auth: Auth, uri: str) -> dict[str, Any]:
    response = httpx.post(
        f"{cluster.url}/fs/waits/actions/slow",
        json={"token": "t-dead", "tenantId": "ten-1", "callbackUri": uri, "inputs": []},
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["invokeType"] == "WAIT"
    execution_id = response.headers["x-flowhost-execution-id"]
    started = time.monotonic()

    def dead() -> dict[str, Any]:
        rows = _callbacks(cluster, execution_id)
        assert rows and rows[0]["state"] == "dead", rows
        return rows[0]

    row = assert_eventually(dead, timeout_s=15)
    # the slow process takes 1 s; dead-lettered on the first attempt, not after backoff
    assert time.monotonic() - started < 10
    assert row["attempts"] == 1
    return row


def test_a_receiver_answering_404_dead_letters_the_callback_at_once(
    cluster: Cluster, flow_auth: Auth, receiver_404: Receiver
) -> None:
    uri = f"http://127.0.0.1:{receiver_404.port}/api/run/1/response"
    row = _wait_then_dead(cluster, flow_auth, uri)
    assert row["last_error"].startswith("HTTP 404"), row
    assert receiver_404.calls == 1
    assert_serving(cluster, flow_auth)


def test_a_tls_failure_dead_letters_the_callback_at_once(
    cluster: Cluster, flow_auth: Auth, receiver_404: Receiver
) -> None:
    # https to a plain-HTTP receiver: the TLS handshake fails the same way on every attempt
    uri = f"https://127.0.0.1:{receiver_404.port}/api/run/1/response"
    row = _wait_then_dead(cluster, flow_auth, uri)
    assert row["last_error"].startswith("TLS: "), row
    assert_serving(cluster, flow_auth)


# -- uploads ---------------------------------------------------------------------------------

BAD_NAMES = [
    b"../x",
    b"/abs",
    b"a\x00b",
    b"..",
    b".",
    b"x" * 300,
    b"..\\x",
    b"dir\\x",
    b"a\x07b",
    b"a\x1bb",
    b"",
    b"   ",
    b"\xff\xfe.pdf",
]


def _upload(cluster: Cluster, auth: Auth, name: bytes | None) -> httpx.Response:
    boundary = b"flowinputboundary"
    filename = b"" if name is None else b'; filename="' + name + b'"'
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="FileDataRequest"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        b'{"resourcePath": "/invoices"}\r\n'
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"' + filename + b"\r\n"
        b"Content-Type: application/pdf\r\n\r\n" + b"%PDF-1.4 " * 1000 + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )
    return httpx.post(
        f"{cluster.url}/fs/countries/file/content",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=" + boundary.decode()},
        auth=auth,
        timeout=30,
    )


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n[:12]))
def test_a_bad_upload_file_name_is_a_400_that_does_not_echo_it(
    cluster: Cluster, flow_auth: Auth, name: bytes
) -> None:
    response = _upload(cluster, flow_auth, name)
    body = _problem(response, 400, "invalid_file_name")
    text = response.text
    assert "invoices" not in text and "/abs" not in text and "../" not in text
    if len(name) > 3:
        assert name.decode("latin-1") not in text
    assert_serving(cluster, flow_auth)
    assert body["message"].startswith("the upload's file name is refused: ")


def test_a_file_part_without_a_name_is_a_400(cluster: Cluster, flow_auth: Auth) -> None:
    _problem(_upload(cluster, flow_auth, None), 400, "invalid_file_name")


def test_a_plain_unicode_name_is_stored(cluster: Cluster, flow_auth: Auth) -> None:
    response = _upload(cluster, flow_auth, "Rechnung März 2026.pdf".encode())
    assert response.status_code == 200, response.text
    assert response.json()["objectData"][0]["externalId"].startswith("Rechnung März 2026")
    assert_serving(cluster, flow_auth)
