"""The `flow` step's example in docs/steps.md compiles and runs, answered as a package test is.

(The step against a Flow stand-in is tested in test_flow_step.py; this keeps the page's example
valid, which no other test runs.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from executors.package_test_runner import run_tests
from executors.runtime import load_package

STEPS_MD = Path(__file__).resolve().parents[2] / "docs" / "steps.md"


def _flow_example() -> str:
    section = STEPS_MD.read_text().split("\n## flow\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


async def test_the_flow_step_example_runs_with_a_canned_flow_answer() -> None:
    step = yaml.safe_load(_flow_example())
    names = [step["flow"][key] for key in ("base_url", "tenant", "token")]
    package = textwrap.dedent(
        """
        name: approvals
        version: "1"
        service:
          path: approvals
          configuration: CONFIGURATION
        processes:
          approve:
            steps: [STEP, {map: '.outputs'}, {return: {}}]
        tests:
          - name: the Flow's outputs by name
            process: approve
            input: {orderId: A-1, total: 12}
            answers:
              - flow: 3ca32f1c-0278-477b-9ce1-ff88210be747
                body: {Approved: true, Reference: APR-7}
            expect:
              document: {Approved: true, Reference: APR-7}
        """
    )
    configuration = [{"name": name, "set_by": "operator"} for name in names]
    configuration.append({"name": "approvalVersion", "default": ""})
    source = package.replace(
        "CONFIGURATION", yaml.safe_dump(configuration, default_flow_style=True).strip()
    )
    source = source.replace(
        "STEP", yaml.safe_dump(step, default_flow_style=True, width=10_000).strip()
    )
    [result] = await run_tests(load_package(source))
    assert (result.passed, result.problem) == (True, "")
