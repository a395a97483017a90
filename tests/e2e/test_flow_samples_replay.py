"""Replay real Flow data requests (../shared/flow-samples sql-*, box-data-*) through a cluster.

A package mirrors the types of those services (service-sql's `country` and `city` tables,
service-box's `File` and `Folder`); each request is sent as recorded and the answer compared
field by field with the recorded response. Ignored as service-specific: ids Flow or the service
made up (internalId, typeElementId, typeElementPropertyId), contentFormat, and the encoding of
externalId: service-sql encodes the primary key as base64 JSON, flowhost uses the id property's
value, so requests are rewritten to flowhost's ids and answers compared after the same mapping.
Every other difference is listed in KNOWN_DIFFERENCES, with the reason.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import flowhost, running_cluster

SAMPLES = (Path(__file__).parents[2] / "../shared/flow-samples").resolve()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"Flow samples not found at {SAMPLES}"),
]

PACKAGE = Path(__file__).parent / "packages" / "samples.yaml"

COUNTRY = (
    "CREATE TABLE country (id INTEGER PRIMARY KEY, name TEXT, description TEXT, "
    "integer_column INTEGER, double_column REAL, numeric_column NUMERIC, real_column REAL, "
    "bigint_column BIGINT, numeric_small_column NUMERIC)"
)
CITY = "CREATE TABLE city (cityname TEXT PRIMARY KEY, countryname TEXT, description TEXT)"

# The table each recorded response implies, before its request.
SEEDS: dict[str, list[str]] = {
    "sql-data-load-by-external-id": [
        "INSERT INTO country (id, name, description) VALUES (1, 'Uruguay', 'It is a nice country')"
    ],
    "sql-data-load-is-empty": [
        "INSERT INTO country (id, name, description) VALUES (1, 'Uruguay', NULL)",
        "INSERT INTO country (id, name, description) VALUES (2, 'England', 'x')",
    ],
    "sql-data-load-offset-limit": [
        "INSERT INTO country (id, name, description) VALUES "
        "(1, 'Uruguay', 'u'), (2, 'England', 'England description'), "
        "(3, 'Spain', 'Spain description'), (4, 'France', 'f')"
    ],
    "sql-data-load-order-by": [
        "INSERT INTO city VALUES ('Barcelona', 'Spain', NULL), ('Madrid', 'Spain', NULL), "
        "('Montevideo', 'Uruguay', NULL), ('Paris', 'France', NULL)"
    ],
    "sql-data-load-where-or": [
        "INSERT INTO country (id, name, description) VALUES "
        "(1, 'Uruguay', 'It is a nice country'), (2, 'England', 'It is a beautiful country')"
    ],
    "sql-data-save-create": [],
    "sql-data-save-update": ["INSERT INTO country (id, name) VALUES (1, 'Uruguay')"],
    "sql-data-delete": ["INSERT INTO city VALUES ('Montevideo', 'Uruguay', NULL)"],
    "box-data-load-by-id": [],
    "box-data-save-create": [],
}
METHODS = {"load": ("POST", "/data"), "save": ("PUT", "/data"), "delete": ("POST", "/data/delete")}

# (sample, where, why): what flowhost answers differently, and why.
KNOWN_DIFFERENCES = {
    # NUMERIC beyond a double: documents are JSON, numbers are doubles (SQLite stores REAL too)
    ("sql-data-save-create", "objectData[0].numeric_column"),
    ("sql-data-save-create", "objectData[0].numeric_small_column"),
    ("sql-data-save-update", "objectData[0].numeric_column"),
    ("sql-data-save-update", "objectData[0].numeric_small_column"),
    # nested objects: flowhost names nested types as Boomi's FSS does ("<Type> - <entry>"),
    # Box reuses its Folder type; and flowhost gives nested objects no externalId of their own
    ("box-data-load-by-id", "objectData[0].Parent Folder[0].developerName"),
    ("box-data-load-by-id", "objectData[0].Parent Folder[0].externalId"),
    ("box-data-save-create", "objectData[0].Parent Folder[0].developerName"),
    ("box-data-save-create", "objectData[0].Parent Folder[0].externalId"),
}


def _sql_id(external_id: str) -> str:
    """service-sql's externalId (base64 JSON of the key) as flowhost's (the id's value)."""
    key = json.loads(base64.b64decode(external_id))
    return str(key.get("id") or key.get("cityname"))


def _rewrite_ids(body: Any, sample: str) -> Any:
    if not sample.startswith("sql-") or not isinstance(body, dict):
        return body
    if isinstance(body.get("listFilter"), dict) and body["listFilter"].get("id"):
        body["listFilter"]["id"] = _sql_id(body["listFilter"]["id"])
    for obj in body.get("objectData") or ():
        if obj.get("externalId"):
            obj["externalId"] = _sql_id(obj["externalId"])
    return body


def _differences(sample: str, got: dict[str, Any], want: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    if got["hasMoreResults"] != want["hasMoreResults"]:
        found.add((sample, "hasMoreResults"))
    _objects(sample, "objectData", got["objectData"] or [], want["objectData"] or [], found)
    return found


def _objects(
    sample: str, where: str, got: list[Any], want: list[Any], found: set[tuple[str, str]]
) -> None:
    if len(got) != len(want):
        found.add((sample, where))
        return
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        here = f"{where}[{i}]"
        for key in ("developerName", "externalId"):
            if g[key] != w[key]:
                found.add((sample, f"{here}.{key}"))
        got_props = {p["developerName"]: p for p in g["properties"]}
        want_props = {p["developerName"]: p for p in w["properties"]}
        for name in got_props.keys() | want_props.keys():
            gp, wp = got_props.get(name), want_props.get(name)
            if wp is None and gp is not None:
                # flowhost sends every property of the type, absent ones as null
                if gp["contentValue"] is not None or gp["objectData"]:
                    found.add((sample, f"{here}.{name}"))
                continue
            if gp is None or wp is None:
                found.add((sample, f"{here}.{name}"))
                continue
            if gp["contentValue"] != wp["contentValue"] or (
                wp["contentType"] is not None and gp["contentType"] != wp["contentType"]
            ):
                found.add((sample, f"{here}.{name}"))
            _objects(
                sample, f"{here}.{name}", gp["objectData"] or [], wp["objectData"] or [], found
            )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), executors=1) as running:
        yield running


@pytest.fixture(scope="module")
def client(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    deployed = flowhost(cluster, "deploy", str(PACKAGE))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    added = flowhost(cluster, "users", "add", "replay", "--runtime", "default")
    token = added.stdout.split("token:")[1].strip()
    with httpx.Client(base_url=f"{cluster.url}/fs/samples", auth=("replay", token)) as c:
        yield c


@pytest.mark.parametrize("sample", sorted(SEEDS))
def test_recorded_requests_get_the_recorded_answers(
    cluster: Cluster, client: httpx.Client, sample: str
) -> None:
    # SQLite files live in the runtime's files root (its policy); the URL names it relatively.
    database = cluster.data_dir / "files" / cluster.runtime / f"{sample}.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as conn:
        conn.execute(COUNTRY)
        conn.execute(CITY)
        for statement in SEEDS[sample]:
            conn.execute(statement)
    request = json.loads((SAMPLES / f"{sample}-request.json").read_text())
    want = _rewrite_ids(json.loads((SAMPLES / f"{sample}-response.json").read_text()), sample)
    request = _rewrite_ids(request, sample)
    # The database is the operator's (a db step's URL, relative to the runtime's files root):
    # set as an operator would, not by Flow.
    done = flowhost(cluster, "config", "set", "databaseUrl", f"sqlite:///{sample}.db")
    assert done.returncode == 0, done.stderr
    request["configurationValues"] = []
    verb = sample.split("-")[2]
    method, path = METHODS[verb]
    response = client.request(method, path, json=request)
    assert response.status_code == 200, response.text
    got = response.json()
    differences = _differences(sample, got, want)
    expected = {d for d in KNOWN_DIFFERENCES if d[0] == sample}
    assert differences == expected
