"""The `flow` step (a Flow client) against the run API stand-in: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from executors.package_test_runner import run_tests
from executors.runtime import PackageInvalid, load_package
from executors.runtime.policy import RuntimePolicy
from executors.testing import run_process as _run_process
from executors.testing import values
from tests.flow_standin import FlowStandin, StandinFlow, running_standin, sample

TENANT = "07f799a4-af7c-449b-ba7c-f1f526f7000a"
APPROVAL = "3ca32f1c-0278-477b-9ce1-ff88210be747"
VERSION = "175cf7fe-e1ff-4b83-89bb-9f3e21c4e634"
INSTANT = "11111111-2222-4333-8444-555555555555"
SLOW = "66666666-7777-4888-8999-000000000000"

run_process = functools.partial(_run_process, policy=RuntimePolicy(allow_loopback=True))


def approval_outputs(inputs: dict[str, str]) -> list[dict[str, Any]]:
    approved = float(inputs.get("Amount", "0")) < 1000
    return [
        {
            "developerName": "Approved",
            "contentType": "ContentBoolean",
            "contentValue": str(approved).lower(),
        },
        {
            "developerName": "Reference",
            "contentType": "ContentString",
            "contentValue": "APR-" + inputs["OrderId"],
        },
        {
            "developerName": "Amount",
            "contentType": "ContentNumber",
            "contentValue": inputs.get("Amount"),
        },
        {
            "developerName": "Approver",
            "contentType": "ContentObject",
            "objectData": [
                {
                    "properties": [
                        {
                            "developerName": "Name",
                            "contentType": "ContentString",
                            "contentValue": "Ada",
                        }
                    ]
                }
            ],
        },
    ]


@pytest.fixture(scope="module")
def standin() -> Iterator[FlowStandin]:
    flows = [
        StandinFlow(
            APPROVAL, VERSION, waits=("Approval", "Review"), joins=2, outputs=approval_outputs
        ),
        StandinFlow(INSTANT, "v1"),
        StandinFlow(SLOW, "v1", waits=("Forever",), joins=10_000),
    ]
    with running_standin(TENANT, flows, username="builder", password="s3cret") as running:
        yield running


CONFIG = """
service:
  path: t
  configuration:
    - {name: flowBase}
    - {name: flowTenant}
    - {name: flowToken, type: password}
    - {name: flowUser}
    - {name: flowPassword, type: password}
processes:
  p:
    steps:
"""


def package(step: str) -> str:
    body = "\n".join("      " + line for line in step.strip("\n").splitlines())
    return "name: t\nversion: '1'\n" + CONFIG + body + "\n      - return: {}\n"


def config(standin: FlowStandin, **more: str) -> dict[str, str]:
    return {"flowBase": standin.url, "flowTenant": TENANT, "flowToken": standin.token, **more}


START = """
- flow:
    base_url: flowBase
    tenant: flowTenant
    token: flowToken
    flow_id: '"%s"'
    version_id: '"%s"'
    inputs: '{OrderId: .id, Amount: .amount, Rush: true, Note: null}'
    poll: 50ms
    timeout: 5s
"""


async def test_starts_the_flow_waits_for_it_to_finish_and_maps_its_outputs(
    standin: FlowStandin,
) -> None:
    before = len(standin.requests)
    result = await run_process(
        package(START % (APPROVAL, VERSION)),
        "p",
        [{"id": "o-42", "amount": 120.5}],
        config=config(standin),
    )
    assert result.status == "ok", result.error
    [document] = values(result)
    assert document["invokeType"] == "DONE"
    assert document["state"] == "End"
    assert document["outputs"] == {
        "Approved": True,
        "Reference": "APR-o-42",
        "Amount": 120.5,
        "Approver": {"Name": "Ada"},
    }
    assert result.documents[0].properties["flow_state_id"] == document["stateId"]
    sent = standin.requests[before:]
    # Initialise, one FORWARD invoke, then joins: two per map element, two elements.
    assert [(r.method, r.path.split(document["stateId"])[0]) for r in sent] == [
        ("POST", "/api/run/1"),
        ("POST", "/api/run/1/state/"),
        *[("GET", "/api/run/1/state/")] * 4,
    ]
    assert all(r.headers["manywhotenant"] == TENANT for r in sent)
    assert all(r.headers["authorization"] == standin.token for r in sent)
    init, invoke = sent[0].body, sent[1].body
    assert set(init) == set(sample("initialization-request"))
    assert init["flowId"] == {"id": APPROVAL, "versionId": VERSION}
    assert init["inputs"] == [
        {"developerName": "OrderId", "contentType": "ContentString", "contentValue": "o-42"},
        {"developerName": "Amount", "contentType": "ContentNumber", "contentValue": "120.5"},
        {"developerName": "Rush", "contentType": "ContentBoolean", "contentValue": "true"},
    ]
    assert set(invoke) == set(sample("invoke-request"))
    assert invoke["invokeType"] == "FORWARD"


async def test_logs_in_with_username_and_password_and_can_stop_at_a_state(
    standin: FlowStandin,
) -> None:
    step = (
        (START % (APPROVAL, VERSION))
        .replace("token: flowToken", "username: flowUser\n    password: flowPassword")
        .replace("poll: 50ms", "poll: 50ms\n    wait: Review")
    )
    before = len(standin.requests)
    given = {
        "flowBase": standin.url,
        "flowTenant": TENANT,
        "flowUser": "builder",
        "flowPassword": "s3cret",
    }
    result = await run_process(package(step), "p", [{"id": "o-1", "amount": 1}], config=given)
    assert result.status == "ok", result.error
    [document] = values(result)
    assert (document["invokeType"], document["state"], document["outputs"]) == (
        "WAIT",
        "Review",
        {},
    )
    login = standin.requests[before]
    assert (login.method, login.path) == ("POST", "/api/draw/1/authentication")
    assert set(login.body) == set(sample("authentication-request"))
    assert login.body["username"] == "builder"
    # The password is a secret: it is not in the trace or the result.
    assert "s3cret" not in repr(result)


async def test_wait_none_answers_after_the_first_invoke(standin: FlowStandin) -> None:
    step = (START % (APPROVAL, VERSION)).replace("poll: 50ms", "wait: none")
    result = await run_process(
        package(step), "p", [{"id": "o-2", "amount": 5}], config=config(standin)
    )
    [document] = values(result)
    assert (document["invokeType"], document["state"]) == ("WAIT", "Approval")


async def test_a_flow_with_no_inputs_and_no_version_runs(standin: FlowStandin) -> None:
    step = (
        (START % (INSTANT, ""))
        .replace("    version_id: '\"\"'\n", "")
        .replace("    inputs: '{OrderId: .id, Amount: .amount, Rush: true, Note: null}'\n", "")
    )
    before = len(standin.requests)
    result = await run_process(package(step), "p", config=config(standin))
    assert values(result)[0]["invokeType"] == "DONE"
    assert standin.requests[before].body["flowId"] == {"id": INSTANT, "versionId": None}


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"flowToken": "wrong"}, "flow_unauthorized", "refused the credentials (statusCode 401)"),
        ({"flowTenant": "other"}, "flow_unauthorized", "/api/run/1 returned 401: not allowed"),
        ({"flowBase": "ftp://flow"}, "flow_config", "'flowBase' is not an http(s) URL"),
        ({"flowToken": ""}, "flow_config", "'flowToken' (token of the flow step) is not set"),
    ],
)
async def test_refusals_and_missing_configuration_are_named(
    standin: FlowStandin, change: dict[str, str], code: str, message: str
) -> None:
    result = await run_process(
        package(START % (APPROVAL, VERSION)),
        "p",
        [{"id": "o", "amount": 1}],
        config={**config(standin), **change},
    )
    assert result.status == "failed"
    assert result.error is not None and result.error.code == code
    assert message in result.error.message


async def test_an_unknown_flow_and_a_bad_input_fail_the_step(standin: FlowStandin) -> None:
    unknown = await run_process(
        package(START % ("00000000-0000-4000-8000-000000000000", VERSION)),
        "p",
        [{"id": "o"}],
        config=config(standin),
    )
    assert unknown.error is not None and unknown.error.code == "flow_error"
    assert "/api/run/1 returned 404" in unknown.error.message
    bad = await run_process(
        package(START % (APPROVAL, VERSION)), "p", [{"id": {"nested": 1}}], config=config(standin)
    )
    assert bad.error is not None and bad.error.code == "flow_request"
    assert "input 'OrderId' is dict" in bad.error.message


async def test_waiting_is_bounded_by_the_step_timeout(standin: FlowStandin) -> None:
    step = (START % (SLOW, "v1")).replace("timeout: 5s", "timeout: 300ms")
    result = await run_process(
        package(step), "p", [{"id": "o", "amount": 1}], config=config(standin)
    )
    assert result.error is not None and result.error.code == "flow_timeout"
    assert result.error.message.endswith(f"flow {SLOW} did not finish within 0.3s")


async def test_the_base_url_goes_through_the_egress_policy(standin: FlowStandin) -> None:
    result = await _run_process(
        package(START % (APPROVAL, VERSION)),
        "p",
        [{"id": "o", "amount": 1}],
        config=config(standin),
    )
    assert result.error is not None and result.error.code == "egress_refused"


def test_step_options_are_checked_and_named_values_are_the_operators() -> None:
    with pytest.raises(PackageInvalid) as refused:
        load_package(
            package(
                """
- flow: {base_url: flowBase, tenant: 'bad name', token: flowToken, username: flowUser,
         flow_id: '"x"', bogus: 1}
"""
            )
        )
    assert [str(i) for i in refused.value.issues] == [
        "processes.p.steps[0].bogus: unknown key 'bogus'",
        "processes.p.steps[0].tenant: expected the name of a configuration value, got 'bad name'",
        "processes.p.steps[0]: give token or username and password, not both",
        "processes.p.steps[0]: username and password go together",
    ]
    loaded = load_package(package(START % (APPROVAL, VERSION)))
    owners = {c.name: c.set_by for c in loaded.service.configuration}
    assert owners == {
        "flowBase": "operator",
        "flowTenant": "operator",
        "flowToken": "operator",
        "flowUser": "flow",
        "flowPassword": "operator",
    }


async def test_a_package_test_answers_the_flow_step_with_canned_outputs() -> None:
    text = package(START % (APPROVAL, VERSION)) + (
        "tests:\n"
        "  - name: approved\n"
        "    process: p\n"
        "    input: {id: o-9, amount: 3}\n"
        f"    answers: [{{flow: '{APPROVAL}', body: {{Approved: true}}}}]\n"
        "    expect:\n"
        "      document:\n"
        "        {stateId: null, invokeType: DONE, state: null, outputs: {Approved: true}}\n"
        "  - name: unanswered\n"
        "    process: p\n"
        "    expect: {error: unanswered_call}\n"
    )
    results = await run_tests(load_package(text))
    assert [(r.name, r.passed, r.problem) for r in results] == [
        ("approved", True, ""),
        ("unanswered", True, ""),
    ]
