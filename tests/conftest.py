"""Fixtures shared by the whole test suite. Keep each one generic; add yours below.

Databases are real: SQLite in a temporary file, and PostgreSQL at `FLOWHOST_TEST_POSTGRES_URL`
(default `postgresql+psycopg://postgres@127.0.0.1:5432/test`) with a fresh schema per test.
PostgreSQL variants are skipped, with the reason, when that server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gateway.store import Store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Hypothesis's 200 ms per example is a wall-clock assertion: under the suite's parallel workers
# a slow example failed a property that held (tests/gateway/flow/test_listfilter.py, once).
# Time is measured by the benchmark, not asserted here.
settings.register_profile("flowhost", deadline=None)
settings.load_profile("flowhost")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the tests may use; skips the test when it is unreachable."""
    url = os.environ.get("FLOWHOST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        pytest.skip(
            f"PostgreSQL not reachable at {make_url(url)!s} "
            f"(set FLOWHOST_TEST_POSTGRES_URL): {str(error.orig).strip()}"
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_url)
        options = " ".join(filter(None, [url.query.get("options"), f"-csearch_path={schema}"]))
        yield url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for an empty database: each test runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flowhost.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A `Store` on an empty database (SQLite and PostgreSQL), closed after the test."""
    with Store(store_url) as opened:
        yield opened
