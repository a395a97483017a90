"""`flowhost listeners`, `listeners pause|resume` against real gateway and executor processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import flowhost, running_cluster
from tests.security.conftest import EXAMPLES, QUOTE

pytestmark = pytest.mark.e2e


def test_an_operator_pauses_and_resumes_a_listener_from_the_cli(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        cluster.deploy_examples(EXAMPLES)
        auth = cluster.demo_user()
        quote = f"{cluster.url}/fs/shop/actions/quote"
        assert httpx.post(quote, json=QUOTE, auth=auth, timeout=30).status_code == 200

        listed = flowhost(cluster, "listeners")
        assert listed.returncode == 0, listed.stderr
        shop = next(line for line in listed.stdout.splitlines() if "/fs/shop " in line)
        assert "serving" in shop and "default" in shop
        assert any("/fs/countries" in line for line in listed.stdout.splitlines())

        paused = flowhost(cluster, "listeners", "pause", "shop", "--reason", "new prices")
        assert paused.returncode == 0, paused.stderr
        assert "/fs/shop in runtime default is paused" in paused.stdout
        refused = httpx.post(quote, json=QUOTE, auth=auth, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "listener_paused"
        assert "new prices" in refused.json()["message"]
        listed = flowhost(cluster, "listeners", "--runtime", "default")
        shop = next(line for line in listed.stdout.splitlines() if "/fs/shop " in line)
        assert "paused: new prices" in shop

        resumed = flowhost(cluster, "listeners", "resume", "shop")
        assert resumed.returncode == 0, resumed.stderr
        assert "is serving" in resumed.stdout
        assert httpx.post(quote, json=QUOTE, auth=auth, timeout=30).status_code == 200

        unknown = flowhost(cluster, "listeners", "pause", "nope")
        assert unknown.returncode == 1
        assert "no service 'nope'" in unknown.stderr and "HTTP 404" in unknown.stderr
        elsewhere = flowhost(cluster, "listeners", "--runtime", "mars")
        assert elsewhere.returncode == 1 and "no runtime 'mars'" in elsewhere.stderr
