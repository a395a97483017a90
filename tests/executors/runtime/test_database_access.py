"""Which database URLs a runtime's db steps may open (checked before connecting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from executors.runtime.database_access import allowed_url
from executors.runtime.errors import StepError
from executors.runtime.policy import RuntimePolicy


def test_sqlite_resolves_in_the_files_root(tmp_path: Path) -> None:
    policy = RuntimePolicy(files_root=str(tmp_path))
    root = tmp_path.resolve()
    assert allowed_url("sqlite:///countries.db", policy) == f"sqlite:///{root / 'countries.db'}"
    assert allowed_url(f"sqlite:///{root}/a/b.db", policy) == f"sqlite:///{root / 'a' / 'b.db'}"
    assert allowed_url("sqlite://", policy) == "sqlite://"
    assert allowed_url("sqlite+pysqlite:///x.db", policy).endswith(f"{root}/x.db")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("sqlite:////etc/passwd", "path_outside_root"),
        ("sqlite:///../elsewhere.db", "path_outside_root"),
        ("sqlite:///file:/etc/x?uri=true", "database_not_allowed"),
        ("sqlite:///x.db?mode=ro", "database_not_allowed"),
        ("postgresql://u@127.0.0.1:5432/x", "database_not_allowed"),
        ("mysql://root@10.0.0.5/x", "database_not_allowed"),
        ("not a url", "db_url"),
    ],
)
def test_other_urls_are_refused(tmp_path: Path, url: str, code: str) -> None:
    with pytest.raises(StepError) as refused:
        allowed_url(url, RuntimePolicy(files_root=str(tmp_path)))
    assert refused.value.code == code
    assert str(tmp_path) not in refused.value.message


def test_listed_servers_allow_their_databases_and_nothing_else() -> None:
    policy = RuntimePolicy(
        database_urls=(
            "postgresql://app@db.internal/",
            "postgresql+psycopg://reports.internal:6432/reports",
        )
    )
    allowed = [
        "postgresql://app:pw@db.internal/orders",
        "postgresql://app@DB.internal:5432/anything",
        "postgresql+psycopg://app@db.internal/orders",
        "postgresql+psycopg://x:y@reports.internal:6432/reports",
    ]
    for url in allowed:
        assert allowed_url(url, policy) == url
    refused = [
        "postgresql://other@db.internal/orders",  # another user
        "postgresql://app@db.internal:5433/orders",  # another port
        "postgresql://app@db.internal.evil.example/orders",  # a longer host, same prefix
        "postgresql://app@db.internal/orders?host=127.0.0.1",  # libpq would go elsewhere
        "postgresql+psycopg://x@reports.internal:6432/other",  # another database
        "postgresql+psycopg2://x@reports.internal:6432/reports",  # another driver
        "mysql://app@db.internal/orders",
    ]
    for url in refused:
        with pytest.raises(StepError) as refusal:
            allowed_url(url, policy)
        assert refusal.value.code == "database_not_allowed", url
