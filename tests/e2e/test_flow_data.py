"""End to end: data actions and file resources through a real cluster, with basic auth."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowhost.devcluster import Cluster
from tests.e2e.cluster import assert_eventually, flowhost, running_cluster

pytestmark = pytest.mark.e2e

PACKAGE = Path(__file__).parent / "packages" / "data.yaml"
UPLOAD_LIMIT = 3 * 1024 * 1024
ROWS = 1000


def _row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"{'abc'[i % 3]}row {i:04d}{'%_' if i % 7 == 0 else ''}",
        "score": None if i % 10 == 0 else (i * 37 % 101) / 4,
        "active": i % 2 == 0,
        "note": "" if i % 5 == 0 else (None if i % 5 == 1 else f"note {i % 13}"),
    }


def _value(name: str, value: Any) -> dict[str, Any]:
    kinds = {"id": "ContentNumber", "score": "ContentNumber", "active": "ContentBoolean"}
    if value is None:
        text = None
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return {
        "developerName": name,
        "contentType": kinds.get(name, "ContentString"),
        "contentValue": text,
        "objectData": None,
    }


def _object(row: dict[str, Any], external_id: str | None = None) -> dict[str, Any]:
    return {
        "internalId": None,
        "externalId": external_id,
        "developerName": "Row",
        "properties": [_value(k, v) for k, v in row.items()],
    }


def _doc(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prop in obj["properties"]:
        text = prop["contentValue"]
        name = prop["developerName"]
        if text is None:
            out[name] = None
        elif name == "id":
            out[name] = int(text)
        elif name == "score":
            out[name] = float(text)
        elif name == "active":
            out[name] = text == "true"
        else:
            out[name] = text
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOWHOST_UPLOAD_MAX_BYTES", str(UPLOAD_LIMIT))
        with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
            yield running


@pytest.fixture(scope="module")
def config(cluster: Cluster) -> dict[str, Any]:
    result = flowhost(cluster, "deploy", str(PACKAGE))
    assert result.returncode == 0, result.stderr
    added = flowhost(cluster, "users", "add", "dora", "--runtime", "default")
    assert added.returncode == 0, added.stderr
    token = added.stdout.split("token:")[1].strip()
    # Both live in the runtime's files root (its policy), and are the operator's to choose
    # (the package uses them as a db URL and a file folder): set as an operator would, never
    # sent from Flow.
    root = cluster.data_dir / "files" / cluster.runtime
    (root / "docs").mkdir(parents=True, exist_ok=True)
    for name, value in (("databaseUrl", "sqlite:///rows.db"), ("folder", "docs")):
        done = flowhost(cluster, "config", "set", name, value, "--runtime", "default")
        assert done.returncode == 0, done.stderr
    return {
        "auth": ("dora", token),
        "database": root / "rows.db",
        "folder": root / "docs",
        "configurationValues": [],
    }


@pytest.fixture(scope="module")
def fs(cluster: Cluster, config: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{cluster.url}/fs/data", auth=config["auth"], timeout=60) as c:
        yield c


def _request(config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "configurationValues": config["configurationValues"],
        "objectDataType": {"developerName": "Row", "properties": []},
        **fields,
    }


@pytest.fixture(scope="module")
def seeded(fs: httpx.Client, config: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [_row(i) for i in range(1, ROWS + 1)]
    body = _request(config, objectData=[_object(r) for r in rows])
    response = fs.put("/data", json=body)
    assert response.status_code == 200, response.text
    saved = response.json()["objectData"]
    assert len(saved) == ROWS
    assert saved[0]["externalId"] == "1"
    return rows


def _load(fs: httpx.Client, config: dict[str, Any], **list_filter: Any) -> dict[str, Any]:
    response = fs.post("/data", json=_request(config, listFilter=list_filter))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-manywho-service-problem-kind"] == "service"
    body = response.json()
    assert body["code"] == code, body
    message: str = body["message"]
    return message


CHECKS: list[tuple[str, str, str, Callable[[dict[str, Any]], bool]]] = [
    ("id", "EQUAL", "17", lambda r: r["id"] == 17),
    ("name", "NOT_EQUAL", "arow 0003", lambda r: r["name"] != "arow 0003"),
    ("score", "GREATER_THAN", "12.5", lambda r: r["score"] is not None and r["score"] > 12.5),
    (
        "score",
        "GREATER_THAN_OR_EQUAL",
        "12.5",
        lambda r: r["score"] is not None and r["score"] >= 12.5,
    ),
    ("id", "LESS_THAN", "40", lambda r: r["id"] < 40),
    ("id", "LESS_THAN_OR_EQUAL", "40", lambda r: r["id"] <= 40),
    ("name", "CONTAINS", "%_", lambda r: "%_" in r["name"]),
    ("name", "STARTS_WITH", "brow", lambda r: r["name"].startswith("brow")),
    ("name", "ENDS_WITH", "7", lambda r: r["name"].endswith("7")),
    ("note", "IS_EMPTY", "true", lambda r: r["note"] in (None, "")),
    ("note", "IS_EMPTY", "false", lambda r: r["note"] not in (None, "")),
    ("active", "EQUAL", "true", lambda r: r["active"] is True),
]


@pytest.mark.parametrize(("column", "criteria", "value", "check"), CHECKS)
def test_paging_through_a_filtered_table_gives_every_matching_row_once_in_order(
    fs: httpx.Client,
    config: dict[str, Any],
    seeded: list[dict[str, Any]],
    column: str,
    criteria: str,
    value: str,
    check: Callable[[dict[str, Any]], bool],
) -> None:
    expected = sorted(
        (r for r in seeded if check(r)),
        key=lambda r: (r["score"] is not None, r["score"] or 0, r["id"]),
        reverse=True,
    )
    got: list[dict[str, Any]] = []
    offset = 0
    where = [{"columnName": column, "criteriaType": criteria, "contentValue": value}]
    while True:
        page = _load(
            fs,
            config,
            where=where,
            comparisonType="AND",
            orderByPropertyDeveloperName="score",
            orderByDirectionType="DESC",
            limit=100,
            offset=offset,
        )
        got.extend(_doc(o) for o in page["objectData"])
        assert len(page["objectData"]) <= 100
        offset += 100
        if not page["hasMoreResults"]:
            break
    # DESC puts nulls last; ties on score are ordered by id
    expected.sort(key=lambda r: r["score"] is None)
    ties = sorted(expected, key=lambda r: (r["score"] is None, -(r["score"] or 0), r["id"]))
    assert got == ties


def test_or_groups_search_and_order_by_list(
    fs: httpx.Client, config: dict[str, Any], seeded: list[dict[str, Any]]
) -> None:
    page = _load(
        fs,
        config,
        comparisonType="OR",
        where=[{"columnName": "id", "criteriaType": "EQUAL", "contentValue": "5"}],
        listFilters=[
            {
                "comparisonType": "AND",
                "where": [
                    {"columnName": "id", "criteriaType": "GREATER_THAN", "contentValue": "990"},
                    {"columnName": "active", "criteriaType": "EQUAL", "contentValue": "false"},
                ],
            }
        ],
        search="ROW",
        orderBy=[{"columnName": "name", "direction": "DESC"}],
    )
    names = [_doc(o)["name"] for o in page["objectData"]]
    expected = [r["name"] for r in seeded if r["id"] == 5 or (r["id"] > 990 and not r["active"])]
    assert names == sorted(expected, reverse=True)
    assert page["hasMoreResults"] is False


def test_save_then_load_round_trip_update_and_delete(
    fs: httpx.Client, config: dict[str, Any], seeded: list[dict[str, Any]]
) -> None:
    new = {"id": 5001, "name": "fresh", "score": 2.5, "active": True, "note": "x"}
    saved = fs.put("/data", json=_request(config, objectData=[_object(new)])).json()
    assert saved["objectData"][0]["externalId"] == "5001"
    loaded = _load(fs, config, id="5001")["objectData"]
    assert [_doc(o) for o in loaded] == [new]
    changed = {**new, "name": "renamed", "score": 3}
    updated = fs.put("/data", json=_request(config, objectData=[_object(changed, "5001")]))
    assert updated.status_code == 200, updated.text
    assert _doc(_load(fs, config, id="5001")["objectData"][0])["name"] == "renamed"
    deleted = fs.post(
        "/data/delete", json=_request(config, objectData=[_object({"id": None}, "5001")])
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["objectData"] == []
    assert _load(fs, config, id="5001")["objectData"] == []


def test_a_failed_save_of_five_objects_leaves_the_table_as_it_was(
    fs: httpx.Client, config: dict[str, Any], seeded: list[dict[str, Any]]
) -> None:
    before = sqlite3.connect(config["database"]).execute("SELECT count(*) FROM rows").fetchone()
    five = [{"id": 6000 + i, "name": f"new {i}"} for i in range(4)] + [{"id": 1, "name": "dup"}]
    response = fs.put("/data", json=_request(config, objectData=[_object(r) for r in five]))
    assert response.status_code == 500, response.text
    assert "UNIQUE" in response.json()["message"]
    after = sqlite3.connect(config["database"]).execute("SELECT count(*) FROM rows").fetchone()
    assert after == before


def test_bad_data_requests_are_precise_4xx(
    fs: httpx.Client, config: dict[str, Any], seeded: list[dict[str, Any]]
) -> None:
    unknown = _request(config, objectDataType={"developerName": "Nope"})
    assert "'Nope'" in _problem(fs.post("/data", json=unknown), 400, "unknown_type")
    where = [{"columnName": "colour", "criteriaType": "EQUAL", "contentValue": "red"}]
    message = _problem(
        fs.post("/data", json=_request(config, listFilter={"where": where})), 400, "invalid_filter"
    )
    assert "'colour'" in message
    where = [{"columnName": "score", "criteriaType": "EQUAL", "contentValue": "high"}]
    message = _problem(
        fs.post("/data", json=_request(config, listFilter={"where": where})), 400, "invalid_filter"
    )
    assert "'high' is not a number" in message
    bad_number = _object({"id": "x1", "name": "n"})
    _problem(fs.put("/data", json=_request(config, objectData=[bad_number])), 400, "invalid_object")
    no_id = _object({"name": "no id"}, external_id="7")
    _problem(fs.put("/data", json=_request(config, objectData=[no_id])), 400, "missing_id")


def _multipart(
    parts: list[tuple[str, str | None, str, bytes]], boundary: str = "flowhostboundary"
) -> tuple[bytes, dict[str, str]]:
    chunks = []
    for name, filename, content_type, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def _file_request(config: dict[str, Any]) -> bytes:
    return json.dumps(
        {"configurationValues": config["configurationValues"], "resourcePath": "/docs"}
    ).encode()


def test_upload_then_list(fs: httpx.Client, config: dict[str, Any]) -> None:
    content = bytes(range(256)) * (2 * 1024 * 1024 // 256 + 7)  # ~2 MB: many chunks
    body, headers = _multipart(
        [
            ("FileDataRequest", None, "application/json", _file_request(config)),
            ("file", "report.pdf", "application/pdf", content),
        ]
    )
    response = fs.post("/file/content", content=body, headers=headers)
    assert response.status_code == 200, response.text
    created = response.json()["objectData"][0]
    assert created["developerName"] == "$File"
    assert created["externalId"] == "report.pdf"
    props = {p["developerName"]: p["contentValue"] for p in created["properties"]}
    assert props["Mime Type"] == "application/pdf"
    assert (config["folder"] / "report.pdf").read_bytes() == content
    listed = fs.post("/file", content=_file_request(config)).json()["objectData"]
    assert [o["externalId"] for o in listed] == ["report.pdf"]


def test_bad_uploads_are_precise_4xx_and_store_nothing(
    fs: httpx.Client, config: dict[str, Any]
) -> None:
    before = sorted(p.name for p in config["folder"].iterdir())
    body, headers = _multipart([("file", "a.txt", "text/plain", b"hello")])
    _problem(fs.post("/file/content", content=body, headers=headers), 400, "missing_request_part")
    body, headers = _multipart(
        [
            ("FileDataRequest", None, "application/json", _file_request(config)),
            ("file", "empty.txt", "text/plain", b""),
        ]
    )
    _problem(fs.post("/file/content", content=body, headers=headers), 400, "empty_file")
    body, headers = _multipart(
        [
            ("FileDataRequest", None, "application/json", _file_request(config)),
            ("file", "big.bin", "application/octet-stream", b"x" * (UPLOAD_LIMIT + 1)),
        ]
    )
    message = _problem(
        fs.post("/file/content", content=body, headers=headers), 413, "file_too_large"
    )
    assert str(UPLOAD_LIMIT) in message
    response = fs.post("/file/content", content=b"{}", headers={"content-type": "application/json"})
    _problem(response, 400, "not_multipart")
    assert sorted(p.name for p in config["folder"].iterdir()) == before


def test_metadata_installs_the_bound_type_and_says_what_the_service_provides(
    fs: httpx.Client,
) -> None:
    describe = fs.post("/metadata", json={}).json()
    assert describe["providesDatabase"] is True
    assert describe["providesFiles"] is True
    row = next(t for t in describe["install"]["typeElements"] if t["developerName"] == "Row")
    binding = row["bindings"][0]
    assert binding["databaseTableName"] == "Row"
    assert [p["databaseFieldName"] for p in binding["propertyBindings"]] == [
        "id",
        "name",
        "score",
        "active",
        "note",
    ]


def test_data_and_file_executions_are_in_the_history_with_their_kind(
    cluster: Cluster, fs: httpx.Client, config: dict[str, Any]
) -> None:
    """As an operator sees them: `flowhost executions --kind data|file` lists the executions a
    load, a save, a delete, a file list and an upload ran, each with what it was."""
    saved = fs.put("/data", json=_request(config, objectData=[_object(_row(5001))]))
    assert saved.status_code == 200, saved.text
    loaded = fs.post("/data", json=_request(config, listFilter={"id": "5001"}))
    assert loaded.status_code == 200, loaded.text
    deleted = fs.post(
        "/data/delete", json=_request(config, objectData=[_object(_row(5001), "5001")])
    )
    assert deleted.status_code == 200, deleted.text
    body, headers = _multipart(
        [
            ("FileDataRequest", None, "application/json", _file_request(config)),
            ("file", "history.txt", "text/plain", b"kept"),
        ]
    )
    uploaded = fs.post("/file/content", content=body, headers=headers)
    assert uploaded.status_code == 200, uploaded.text
    assert fs.post("/file", content=_file_request(config)).status_code == 200
    ids = {
        r.headers["x-flowhost-execution-id"]: what
        for r, what in (
            (saved, "save Row"),
            (loaded, "load Row"),
            (deleted, "delete Row"),
            (uploaded, "upload /docs"),
        )
    }

    def listed() -> tuple[str, str]:
        data = flowhost(cluster, "executions", "--kind", "data", "--limit", "1000")
        files = flowhost(cluster, "executions", "--kind", "file", "--limit", "1000")
        assert data.returncode == 0 and files.returncode == 0, data.stderr + files.stderr
        assert all(i in data.stdout + files.stdout for i in ids), data.stdout + files.stdout
        return data.stdout, files.stdout

    data, files = assert_eventually(listed)
    rows = [line for line in data.splitlines() if line.startswith("│")]  # the table's body
    assert rows and all("│ data " in row for row in rows), data
    for execution_id, what in ids.items():
        line = next(line for line in (data + files).splitlines() if execution_id in line)
        assert what in line and ("data" if "Row" in what else "file") in line, line
        assert " ok " in line, line
    assert "list /docs" in files
    with cluster.client() as api:
        shown = api.execution(next(iter(ids)))
    assert (shown["kind"], shown["action"], shown["process"]) == ("data", "save Row", "save")
