"""The compose topology as local processes: deploy job + load generator against a real cluster."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.cluster import ROOT, flowhost, running_cluster

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) drives the load")
def test_deploy_job_then_load_generator(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", executors=2) as cluster:
        # What compose's `deploy` service runs.
        deployed = flowhost(cluster, "deploy", str(ROOT / "flowhost" / "bench" / "package.yaml"))
        assert deployed.returncode == 0, deployed.stderr
        saved = tmp_path / "bench-user.json"
        added = flowhost(cluster, "users", "add", "bench", "--save", str(saved))
        assert added.returncode == 0, added.stderr
        assert saved.stat().st_mode & 0o777 == 0o600
        # What compose's `loadgen` service runs (briefly).
        load = flowhost(
            cluster,
            "load",
            f"{cluster.url}/fs/bench/actions/quote",
            "--credentials",
            str(saved),
            "--connections",
            "8",
            "--seconds",
            "2",
        )
        assert load.returncode == 0, load.stdout + load.stderr
        match = re.search(r"(\d+) requests/s .* (\d+) requests, (\d+) errors", load.stdout)
        assert match, load.stdout
        assert int(match.group(2)) > 100
        assert match.group(3) == "0"
