"""The `flow` step with the cluster as processes: a Flow message action whose process starts a
Flow through the run API (the stand-in of tests/flow_standin.py, a real HTTP server on
127.0.0.1), waits for it to finish and answers with its outputs. The base URL, tenant and token
are the operator's (`flowhost config set`), the token a secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import assert_eventually, flowhost, running_cluster
from tests.executors.test_flow_step import APPROVAL, TENANT, VERSION, approval_outputs
from tests.flow_standin import FlowStandin, StandinFlow, running_standin

pytestmark = pytest.mark.e2e

PACKAGE = f"""
name: approvals
version: "1.0"
service:
  path: approvals
  configuration:
    - {{name: flowBase, set_by: operator}}
    - {{name: flowTenant, set_by: operator}}
    - {{name: flowToken, type: password}}
  profiles:
    Order:
      type: object
      properties: {{id: {{type: string}}, amount: {{type: number}}}}
      required: [id]
    Approval:
      type: object
      properties: {{approved: {{type: boolean}}, reference: {{type: string}}}}
  actions:
    - {{name: approve, process: approve, request: Order, response: Approval}}
processes:
  approve:
    steps:
      - flow:
          base_url: flowBase
          tenant: flowTenant
          token: flowToken
          flow_id: '"{APPROVAL}"'
          version_id: '"{VERSION}"'
          inputs: '{{OrderId: .id, Amount: .amount}}'
          poll: 50ms
          timeout: 10s
      - map: '{{approved: .outputs.Approved, reference: .outputs.Reference}}'
      - return: {{}}
"""


@pytest.fixture
def standin() -> Iterator[FlowStandin]:
    flows = [StandinFlow(APPROVAL, VERSION, waits=("Approval",), joins=1, outputs=approval_outputs)]
    with running_standin(TENANT, flows) as running:
        yield running


def test_a_flow_action_starts_a_flow_and_answers_with_its_outputs(
    tmp_path: Path, standin: FlowStandin
) -> None:
    package = tmp_path / "approvals.yaml"
    package.write_text(PACKAGE)
    with running_cluster(tmp_path / "cluster", executors=1) as cluster:
        for name, value in (("flowBase", standin.url), ("flowTenant", TENANT)):
            assert flowhost(cluster, "config", "set", name, value).returncode == 0
        token = flowhost(cluster, "config", "set", "flowToken", standin.token, "--secret")
        assert token.returncode == 0, token.stderr
        deployed = flowhost(cluster, "deploy", str(package))
        assert deployed.returncode == 0, deployed.stderr
        user, secret = cluster.demo_user()
        request = {
            "inputs": [
                {"developerName": "id", "contentType": "ContentString", "contentValue": "o-7"},
                {"developerName": "amount", "contentType": "ContentNumber", "contentValue": "120"},
            ]
        }

        def answered() -> dict[str, str]:
            response = httpx.post(
                f"{cluster.url}/fs/approvals/actions/approve",
                json=request,
                auth=(user, secret),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            return {o["developerName"]: o["contentValue"] for o in response.json()["outputs"]}

        outputs = assert_eventually(answered, timeout_s=10)  # values reach the gateway at its poll
        assert outputs == {"approved": "true", "reference": "APR-o-7"}
        started = [r for r in standin.requests if (r.method, r.path) == ("POST", "/api/run/1")]
        assert len(started) == 1
        assert started[0].headers["manywhotenant"] == TENANT
        assert started[0].body["inputs"][0]["contentValue"] == "o-7"
