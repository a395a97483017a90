"""The security suite's own fixture: a cluster that answers a normal request."""

from __future__ import annotations

from flowhost.devcluster import Cluster
from tests.security.conftest import assert_serving


def test_the_cluster_serves_a_normal_request(cluster: Cluster, flow_auth: tuple[str, str]) -> None:
    assert_serving(cluster, flow_auth)
