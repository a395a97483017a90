"""`flowhost up --runtime NAME:COUNT`: the values it takes, and the ones it refuses before it
starts anything (the cluster it starts is tested in tests/e2e/test_join.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowhost.cli.main import app
from flowhost.devcluster import MAX_LOCAL_EXECUTORS, Cluster, parse_runtimes


def test_runtimes_keep_their_order_and_count() -> None:
    assert parse_runtimes(["eu:2", "us:1", "asia"]) == {"eu": 2, "us": 1, "asia": 1}
    assert list(parse_runtimes(["us:1", "eu:2"])) == ["us", "eu"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (["eu:0"], "COUNT at least 1"),
        (["eu:two"], "COUNT at least 1"),
        (["eu:²"], "COUNT at least 1"),
        (["bad name:1"], "letters, digits"),
        ([":1"], "letters, digits"),
        (["eu:1", "eu:2"], "given twice"),
        ([f"eu:{MAX_LOCAL_EXECUTORS + 1}"], "MAX_LOCAL_EXECUTORS"),
    ],
)
def test_a_bad_runtime_is_refused_naming_the_value(spec: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        parse_runtimes(spec)
    assert spec[-1] in str(refused.value) or "in all" in str(refused.value)


def test_up_refuses_them_before_starting_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args, says in (
        (["--runtime", "eu:0"], "--runtime 'eu:0'"),
        (["--executors", "1", "--runtime", "eu:1"], "with --runtime give NAME:COUNT"),
    ):
        result = CliRunner().invoke(app, ["up", *args, "--data-dir", str(data)])
        assert result.exit_code != 0
        assert says in result.output, result.output
    assert not data.exists()  # nothing started, no data folder made


def test_the_old_signature_is_one_runtime() -> None:
    cluster = Cluster(data_dir=Path("unused"), executors=3)
    assert (cluster.runtime, cluster.runtimes, cluster.executors) == ("default", {"default": 3}, 3)
    several = Cluster(data_dir=Path("unused"), runtimes={"eu": 2, "us": 1})
    assert (several.runtime, several.executors) == ("eu", 3)
