"""A property-based fuzz of the Flow request translators, through a running cluster.

Any JSON sent as a describe request, ServiceRequest, ObjectDataRequest (load, save, delete),
FileDataRequest or list filter gets a 2xx, or a 4xx ServiceProblem with
`X-ManyWho-Service-Problem-Kind`: never a 5xx. The package under test echoes what it is given
(every Flow type, nested objects and lists, configuration values of each type), so a 5xx can
only come from the gateway's translation, the gRPC link or the executor, not from a process
that fails on purpose; the countries example adds list filters translated to real SQL.

Bounded in time: a fixed `max_examples` per test (about 20 s in all on 2 busy cores, cluster
start included). Inputs that found bugs are kept as `@example`s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowhost.devcluster import Cluster
from tests.security.conftest import assert_serving
from tests.strategies import (
    HUGE_INTEGER_TEXT,
    Deep,
    hostile_body,
    hostile_file_data_requests,
    hostile_json,
    hostile_object_data_requests,
    hostile_service_requests,
)

PACKAGE = """
name: fuzz
version: 1.0.0
service:
  path: fuzz
  configuration:
    - {name: limit, type: number, default: "5"}
    - {name: flag, type: boolean}
    - {name: label, type: string}
  profiles:
    Everything:
      type: object
      properties:
        text: {type: string}
        when: {type: string, format: date-time}
        amount: {type: number}
        count: {type: integer}
        "yes": {type: boolean}
        child:
          type: object
          properties: {n: {type: integer}, s: {type: string}}
          required: [n]
        items:
          type: array
          items: {type: object, properties: {q: {type: number}, tag: {type: string}}}
    Thing:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        score: {type: number}
        born: {type: string, format: date-time}
        ok: {type: boolean}
  actions:
    - {name: echo, process: echo, request: Everything, response: Everything}
  data:
    - {type: Thing, profile: Thing, id: id, load: load, save: echo, delete: echo}
  files:
    - {path: /docs, list: list}
processes:
  echo:
    steps:
      - set: {props: {limit: '$config.limit', flag: '$config.flag', label: '$config.label'}}
      - return: {}
  load:
    steps:
      - map: >-
          {items: [{id: 1, name: "a", score: 1.5, born: "2026-01-01T00:00:00.000Z", ok: true},
                   {id: 2, name: "b", score: -3}, {id: 3}]}
      - split: '.items[]'
      - flow_filter: {}
      - return: {}
  list:
    steps:
      - map: '{id: "a.txt", name: "a.txt", mimeType: "text/plain"}'
      - return: {}
"""
# A failing example may be large; the report should still show the failure.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
INPUTS = ["text", "when", "amount", "count", "yes", "child", "items", "n", "s", "q", "tag"]
THING = ["id", "name", "score", "born", "ok"]
COUNTRY = ["code", "name", "capital", "population", "eu"]

# FLOWHOST_FUZZ_EXAMPLES=2000 fuzzes longer (the default keeps the suite's run short).
EXAMPLES = int(os.environ.get("FLOWHOST_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="module")
def fs(cluster: Cluster, flow_auth: tuple[str, str]) -> Iterator[httpx.Client]:
    with cluster.client() as client:
        client.deploy(cluster.runtime, PACKAGE, dry_run=False)
    with httpx.Client(base_url=f"{cluster.url}/fs", auth=flow_auth, timeout=60) as client:
        yield client
    assert_serving(cluster, flow_auth)


def _send(fs: httpx.Client, method: str, path: str, body: Any) -> None:
    content = hostile_body(body)
    response = fs.request(method, path, content=content)
    assert response.status_code < 500, f"{method} {path} {content[:1000]!r}: {response.text[:1000]}"
    if response.status_code >= 400:
        assert response.headers.get("x-manywho-service-problem-kind") == "service", response.text
        problem = response.json()
        assert problem["statusCode"] == response.status_code
        assert isinstance(problem["code"], str) and isinstance(problem["message"], str)
    else:
        assert isinstance(response.json(), dict)


@FUZZ
@given(hostile_service_requests(INPUTS))
@example({"culture": Deep(300)})  # orjson cannot write it back: was a 500
@example({"token": Deep(300)})
@example({"inputs": [{"developerName": "amount", "contentValue": HUGE_INTEGER_TEXT}]})
@example({"inputs": [{"developerName": "count", "contentValue": "1e300"}]})
@example({"inputs": [{"developerName": "amount", "contentValue": Deep(990)}]})  # repr: 500
@example({"configurationValues": [{"developerName": "limit", "contentValue": Deep(990)}]})
@example({"configurationValues": [{"developerName": "limit", "contentValue": "nan"}]})
def test_service_requests(fs: httpx.Client, request: Any) -> None:
    _send(fs, "POST", "/fuzz/actions/echo", request)


@FUZZ
@given(hostile_object_data_requests("Thing", THING))
@example({"objectDataType": {"developerName": "Thing"}, "listFilter": {"limit": HUGE_INTEGER_TEXT}})
@example({"objectDataType": {"developerName": "Thing"}, "listFilter": {"id": Deep(990)}})
def test_data_load(fs: httpx.Client, request: Any) -> None:
    _send(fs, "POST", "/fuzz/data", request)


@FUZZ
@given(hostile_object_data_requests("Country", COUNTRY))
def test_data_load_through_sql(fs: httpx.Client, request: Any) -> None:
    # configurationValues never name databaseUrl or invoiceFolder here: the strategies use
    # other names, so the fuzz stays inside the example's own database.
    _send(fs, "POST", "/countries/data", request)


@FUZZ
@given(hostile_object_data_requests("Thing", THING))
@example(
    {
        "objectDataType": {"developerName": "Thing"},
        "objectData": [
            {"properties": [{"developerName": "id", "contentValue": HUGE_INTEGER_TEXT}]}
        ],
    }
)
def test_data_save(fs: httpx.Client, request: Any) -> None:
    _send(fs, "PUT", "/fuzz/data", request)


@FUZZ
@given(hostile_object_data_requests("Thing", THING))
@example({"objectDataType": {"developerName": "Thing"}, "objectData": [{"externalId": "1e999"}]})
def test_data_delete(fs: httpx.Client, request: Any) -> None:
    _send(fs, "POST", "/fuzz/data/delete", request)


@FUZZ
@given(hostile_file_data_requests())
def test_file_list(fs: httpx.Client, request: Any) -> None:
    _send(fs, "POST", "/fuzz/file", request)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "uri": st.text(max_size=20) | hostile_json,
            "culture": hostile_json,
            "configurationValues": hostile_json,
        },
    )
)
@example({"uri": {"a": 1}})  # an unhashable cache key: was a 500
@example({"uri": ["x"], "culture": None})
def test_describe_requests(fs: httpx.Client, request: Any) -> None:
    _send(fs, "POST", "/fuzz/metadata", request)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(hostile_json)
@example(Deep(1100))  # past orjson's parsing limit
def test_any_json_body_on_every_endpoint(fs: httpx.Client, body: Any) -> None:
    for method, path in [
        ("POST", "/fuzz/actions/echo"),
        ("POST", "/fuzz/data"),
        ("PUT", "/fuzz/data"),
        ("POST", "/fuzz/data/delete"),
        ("POST", "/fuzz/file"),
        ("POST", "/fuzz/metadata"),
        ("POST", "/fuzz/metadata/install"),
    ]:
        _send(fs, method, path, body)
