"""The db, flow_filter and file steps; the Flow list filter in memory and pushed into SQL."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from executors.runtime import CompiledPackage, Document, StepError, databases, load_package
from executors.runtime.listfilter import DataType, apply
from executors.runtime.policy import RuntimePolicy
from executors.runtime.sqlfilter import select_page

ROWS = DataType(
    "Row",
    {"id": "integer", "name": "string", "score": "number", "active": "boolean", "note": "string"},
    "id",
)
CREATE = (
    "CREATE TABLE rows (id INTEGER PRIMARY KEY, name TEXT, score REAL, active BOOLEAN, note TEXT)"
)

# --- strategies ----------------------------------------------------------------------------

texts = st.text(alphabet="aAbB%_/ éÉ", max_size=4)
scores = st.none() | st.integers(-4, 4).map(lambda n: n / 2)
records = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.none() | texts,
            "score": scores,
            "active": st.none() | st.booleans(),
            "note": st.none() | texts,
        }
    ),
    max_size=12,
).map(lambda rows: [{"id": i + 1, **row} for i, row in enumerate(rows)])

VALUES = {
    "id": st.integers(0, 13),
    "name": texts,
    "score": scores.filter(lambda s: s is not None),
    "active": st.booleans(),
    "note": texts,
}
COMPARISONS = ["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN"]
COMPARISONS += ["LESS_THAN_OR_EQUAL"]
TEXT_ONLY = ["CONTAINS", "STARTS_WITH", "ENDS_WITH"]


@st.composite
def criteria(draw: st.DrawFn) -> dict[str, Any]:
    prop = draw(st.sampled_from(sorted(ROWS.columns)))
    kinds = COMPARISONS + ["IS_EMPTY"] + (TEXT_ONLY if ROWS.columns[prop] == "string" else [])
    kind = draw(st.sampled_from(kinds))
    value = draw(st.booleans()) if kind == "IS_EMPTY" else draw(VALUES[prop])
    return {"property": prop, "criteria": kind, "value": value}


groups = st.recursive(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["AND", "OR"]), "criteria": st.lists(criteria(), max_size=3)}
    ).map(lambda g: {**g, "groups": []}),
    lambda inner: st.fixed_dictionaries(
        {
            "op": st.sampled_from(["AND", "OR"]),
            "criteria": st.lists(criteria(), max_size=2),
            "groups": st.lists(inner, max_size=2),
        }
    ),
    max_leaves=6,
)
filters = st.fixed_dictionaries(
    {
        "id": st.just(None),
        "where": st.none() | groups,
        "search": st.none() | texts,
        "orderBy": st.lists(
            st.fixed_dictionaries(
                {
                    "property": st.sampled_from(sorted(ROWS.columns)),
                    "direction": st.sampled_from(["ASC", "DESC"]),
                }
            ),
            max_size=2,
        ),
        "limit": st.none() | st.integers(1, 5),
        "offset": st.integers(0, 4),
    }
)


def _fresh_table(rows: list[dict[str, Any]]) -> Any:
    engine = databases.engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS rows"))
        conn.execute(text("DROP TABLE IF EXISTS secret"))
        conn.execute(text(CREATE))
        conn.execute(text("CREATE TABLE secret (x TEXT)"))
        conn.execute(text("INSERT INTO secret VALUES ('keep me')"))
        if rows:
            conn.execute(text("INSERT INTO rows VALUES (:id, :name, :score, :active, :note)"), rows)
    return engine


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records, list_filter=filters)
def test_flow_filter_in_memory_means_what_the_sql_push_down_means(
    rows: list[dict[str, Any]], list_filter: dict[str, Any]
) -> None:
    engine = _fresh_table(rows)
    with engine.connect() as conn:
        in_sql = [r.id for r in conn.execute(select_page("rows", ROWS, list_filter, "sqlite"))]
    in_memory = [rows[i]["id"] for i in apply(rows, list_filter, ROWS)]
    assert in_memory == in_sql


hostile = st.text(max_size=30) | st.sampled_from(
    ["'; DROP TABLE secret; --", '" OR 1=1 --', "%' OR '1'='1", "x') UNION SELECT x FROM secret --"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prop=st.sampled_from(sorted(ROWS.columns)) | hostile,
    kind=st.sampled_from([*COMPARISONS, *TEXT_ONLY, "IS_EMPTY"]),
    value=hostile | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none(),
    search=st.none() | hostile,
    order=st.sampled_from(sorted(ROWS.columns)) | hostile,
)
@example(prop="active", kind="EQUAL", value=2**63, search=None, order="active")  # found once
def test_no_list_filter_can_inject_sql(
    prop: str, kind: str, value: Any, search: str | None, order: str
) -> None:
    list_filter = {
        "where": {
            "op": "OR",
            "criteria": [{"property": prop, "criteria": kind, "value": value}],
            "groups": [],
        },
        "search": search,
        "orderBy": [{"property": order, "direction": "DESC"}],
        "limit": 3,
        "offset": 0,
    }
    engine = _fresh_table([{"id": 1, "name": "a", "score": 1.0, "active": True, "note": None}])
    try:
        statement = select_page("rows", ROWS, list_filter, "sqlite")
    except StepError as refused:
        assert refused.code == "invalid_filter"
        out_of_range = isinstance(value, int) and not -(2**63) <= value < 2**63
        assert prop not in ROWS.columns or order not in ROWS.columns or out_of_range
        return
    # The SQL text depends on the filter's shape only: the same with harmless values.
    harmless = {
        **list_filter,
        "where": {
            **list_filter["where"],
            "criteria": [{"property": prop, "criteria": kind, "value": _harmless(value)}],
        },
        "search": _harmless(search),
    }
    same_shape = select_page("rows", ROWS, harmless, "sqlite")
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert str(statement.compile(dialect=dialect)) == str(same_shape.compile(dialect=dialect))
    with engine.connect() as conn:
        conn.execute(statement).fetchall()
        assert conn.execute(text("SELECT x FROM secret")).fetchall() == [("keep me",)]
        assert conn.execute(text("SELECT count(*) FROM rows")).scalar() == 1


def _harmless(value: Any) -> Any:
    if isinstance(value, str):
        return "x" if value else ""
    return value  # numbers and booleans carry no text; PostgreSQL casts big ints by size


# --- the db step on real databases ---------------------------------------------------------

PACKAGE = textwrap.dedent(
    """
    name: t
    version: "1"
    service:
      path: t
      configuration: [{name: url}]
      profiles:
        Country:
          type: object
          properties:
            code: {type: string}
            name: {type: string}
            population: {type: integer}
            eu: {type: boolean}
      data:
        - {type: Country, profile: Country, id: code, load: load, save: save, delete: remove}
    processes:
      setup:
        steps:
          - db: {url: $config.url, sql: "CREATE TABLE countries (code VARCHAR(2) PRIMARY KEY,
                 name TEXT NOT NULL, population BIGINT, eu BOOLEAN)"}
          - return: {}
      load: {steps: [{db: {url: $config.url, table: countries, action: load}}, {return: {}}]}
      save: {steps: [{db: {url: $config.url, table: countries, action: save}}, {return: {}}]}
      remove: {steps: [{db: {url: $config.url, action: delete, table: countries}}, {return: {}}]}
      by-name:
        steps:
          - db: {url: $config.url, sql: "SELECT code FROM countries WHERE name = :name",
                 params: {name: .name}}
          - return: {}
      mem: {steps: [{flow_filter: {}}, {return: {}}]}
    """
)


def _doc(value: dict[str, Any], operation: str = "create") -> Document:
    return Document.from_value(value, {"flow_operation": operation})


async def test_db_step_loads_saves_and_deletes_in_one_transaction(
    store_url: str, tmp_path: Path
) -> None:
    package = CompiledPackage.compile(load_package(PACKAGE))
    config = {"url": store_url}
    # The store's SQLite file is in tmp_path; a PostgreSQL URL is listed by the operator.
    policy = RuntimePolicy(files_root=str(tmp_path), database_urls=(store_url,))
    run = functools.partial(package.run, policy=policy)
    try:
        assert (await run("setup", [Document.from_value({})], config=config)).status == "ok"
        countries = [
            {"code": "FR", "name": "France", "population": 68, "eu": True},
            {"code": "UY", "name": "Uruguay", "population": 3, "eu": False},
            {"code": "ES", "name": "Spain", "population": 48, "eu": True},
        ]
        saved = await run("save", [_doc(c) for c in countries], config=config, data_type="Country")
        assert saved.status == "ok", saved.error
        assert [d.value for d in saved.documents] == countries
        # one duplicate among new rows: nothing of the five stays
        five = [{"code": f"Z{i}", "name": f"n{i}"} for i in range(4)] + [countries[0]]
        failed = await run("save", [_doc(c) for c in five], config=config, data_type="Country")
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.code == "db_error"
        everything = await run(
            "load", [Document.from_value({})], config=config, data_type="Country", list_filter={}
        )
        assert sorted(d.value["code"] for d in everything.documents) == ["ES", "FR", "UY"]
        query = {
            "where": {
                "op": "AND",
                "criteria": [{"property": "eu", "criteria": "EQUAL", "value": True}],
                "groups": [],
            },
            "orderBy": [{"property": "name", "direction": "DESC"}],
            "limit": 1,
            "offset": 0,
        }
        page = await run(
            "load", [Document.from_value({})], config=config, data_type="Country", list_filter=query
        )
        assert [d.value["code"] for d in page.documents] == ["ES", "FR"]  # a page plus one
        in_memory = await run(
            "mem",
            [Document.from_value(c) for c in countries],
            data_type="Country",
            list_filter=query,
        )
        assert [d.value["code"] for d in in_memory.documents] == ["ES", "FR"]
        update = {"code": "UY", "name": "Uruguay", "population": 4, "eu": False}
        updated = await run("save", [_doc(update, "update")], config=config, data_type="Country")
        assert [d.value for d in updated.documents] == [update]
        missing = await run(
            "save",
            [_doc({"code": "QQ", "name": "q"}, "update")],
            config=config,
            data_type="Country",
        )
        assert missing.error is not None and missing.error.code == "not_found"
        found = await run("by-name", [Document.from_value({"name": "Spain"})], config=config)
        assert [d.value for d in found.documents] == [{"code": "ES"}]
        removed = await run(
            "remove", [_doc({"code": "FR"}, "delete")], config=config, data_type="Country"
        )
        assert removed.status == "ok"
        by_id = await run(
            "load",
            [Document.from_value({})],
            config=config,
            data_type="Country",
            list_filter={"id": "FR"},
        )
        assert by_id.documents == []
    finally:
        databases.dispose_all()


async def test_table_mode_outside_a_data_action_fails_clearly() -> None:
    package = CompiledPackage.compile(load_package(PACKAGE))
    result = await package.run("load", [Document.from_value({})], config={"url": "sqlite://"})
    assert result.error is not None and result.error.code == "no_data_action"


def test_db_step_config_is_checked_at_deploy() -> None:
    bad = PACKAGE.replace("table: countries, action: load", "table: countries, action: drop")
    with pytest.raises(Exception, match="expected one of load, save, delete"):
        load_package(bad)
    both = PACKAGE.replace("action: load}", "action: load, sql: 'SELECT 1'}")
    with pytest.raises(Exception, match="either sql"):
        load_package(both)


async def test_file_step_saves_without_overwriting_and_lists(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        name: f
        version: "1"
        service: {path: f, files: [{path: /docs, list: list, upload: up}]}
        processes:
          up: {steps: [{file: {action: save, folder: $config.folder}}, {return: {}}]}
          list: {steps: [{file: {action: list, folder: $config.folder}}, {return: {}}]}
          evil: {steps: [{file: {action: save, folder: $config.folder, name: '"../x"'}}]}
        """
    )
    package = CompiledPackage.compile(load_package(source))
    upload = tmp_path / "upload.tmp"
    upload.write_bytes(b"%PDF")
    doc = {"file_path": str(upload), "file_name": "a.pdf", "file_content_type": "application/pdf"}
    config = {"folder": "docs"}  # relative to the runtime's files root
    run = functools.partial(package.run, policy=RuntimePolicy(files_root=str(tmp_path)))
    first = await run("up", [Document.from_value(doc)], config=config)
    second = await run("up", [Document.from_value(doc)], config=config)
    assert [first.documents[0].value["id"], second.documents[0].value["id"]] == [
        "a.pdf",
        "a (1).pdf",
    ]
    listed = await run("list", [Document.from_value({})], config=config)
    assert [d.value["name"] for d in listed.documents] == ["a (1).pdf", "a.pdf"]
    assert (tmp_path / "docs" / "a (1).pdf").read_bytes() == b"%PDF"
    evil = await run("evil", [Document.from_value(doc)], config=config)
    assert evil.error is not None and "plain file name" in evil.error.message
    assert evil.error.code == "invalid_file_name"  # a 400 at the gateway, not step_failed
    assert "../x" not in evil.error.message
    for name in ["a\x00b", "x" * 256, "a\nb", "", ".."]:
        refused = await package.run(
            "up", [Document.from_value({**doc, "file_name": name})], config=config
        )
        assert refused.error is not None and refused.error.code == "invalid_file_name", name
        assert name not in refused.error.message or not name


async def test_db_step_makes_the_folder_of_a_sqlite_file(tmp_path: Path) -> None:
    """A package's default database may live in a folder nobody has made yet."""
    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'made.db'}"
    source = textwrap.dedent(
        f"""
        name: folders
        version: '1'
        service: {{path: folders}}
        processes:
          p:
            steps:
              - db: {{url: '"{url}"', sql: 'CREATE TABLE t (x INTEGER)'}}
              - db: {{url: '"{url}"', sql: 'SELECT count(*) AS n FROM t'}}
              - return: {{}}
        """
    )
    result = await CompiledPackage.compile(load_package(source)).run(
        "p", [Document.from_value({})], policy=RuntimePolicy(files_root=str(tmp_path))
    )
    assert result.status == "ok", result.error
    assert [d.value for d in result.documents] == [{"n": 0}]
    assert (tmp_path / "not" / "yet" / "made.db").is_file()
