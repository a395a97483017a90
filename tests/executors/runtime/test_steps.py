"""One test (or a few) per built-in step type, through the public harness."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from executors.testing import run_process, values

from .helpers import package, process


async def test_map_each_output_becomes_a_document_and_properties_are_kept() -> None:
    source = process(
        """
        - set: {docprops: {origin: .id}}
        - map: '.items[] | {sku, id: $docprops.origin}'
        - return: {}
        """
    )
    result = await run_process(source, "p", [{"id": "a", "items": [{"sku": 1}, {"sku": 2}]}])
    assert result.status == "ok", result.error
    assert values(result) == [{"sku": 1, "id": "a"}, {"sku": 2, "id": "a"}]
    assert [d.properties for d in result.documents] == [{"origin": "a"}, {"origin": "a"}]


async def test_map_results_with_huge_numbers_are_returned_as_doubles() -> None:
    result = await run_process(process("- map: '{big: 1e20}'\n- return: {}"), "p")
    assert result.documents[0].raw == b'{"big":1e+20}'


async def test_set_and_route_take_integers_past_64_bits_as_doubles() -> None:
    steps = (
        "- set: {props: {big: 'pow(2;70)'}}\n"
        "- route: {by: 'pow(2;70)',\n"
        "          routes: {'1.1805916207174113e+21': [{map: '{hit: $props.big}'}]}}\n"
        "- return: {}"
    )
    result = await run_process(process(steps), "p")
    assert result.status == "ok", result.error
    assert [d.value for d in result.documents] == [{"hit": "1.1805916207174113e+21"}]


async def test_map_sees_config_flow_and_props() -> None:
    source = package(
        """
        p:
          steps:
            - map: >-
                {base: $config.apiBase, n: ($config.limit + 1), on: $config.debug,
                 user: $flow.user, id: $flow.execution_id, who: $props.who}
            - return: {}
        """,
        service="""
          path: t
          configuration:
            - {name: apiBase, type: string}
            - {name: limit, type: number, default: "4"}
            - {name: debug, type: boolean, default: "false"}
        """.replace("\n", "\n  ").rstrip(),
    )
    result = await run_process(
        source,
        "p",
        config={"apiBase": "http://x", "debug": "true"},
        flow={"user": "ann"},
        props={"who": "me"},
        execution_id="ex-1",
    )
    assert values(result) == [
        {"base": "http://x", "n": 5, "on": True, "user": "ann", "id": "ex-1", "who": "me"}
    ]


async def test_a_config_value_of_the_wrong_type_fails_the_run() -> None:
    source = package(
        "p: {steps: [{return: {}}]}",
        service="{path: t, configuration: [{name: limit, type: number}]}",
    )
    result = await run_process(source, "p", config={"limit": "many"})
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "invalid_config"


@pytest.mark.parametrize(
    "text", ["1180591620717411303424", "nan", "-Infinity", "1e999", "1_000", "7" * 5000, "\u0663"]
)
async def test_a_number_config_value_must_be_a_flow_number(text: str) -> None:
    source = package(
        "p: {steps: [{return: {}}]}",
        service="{path: t, configuration: [{name: limit, type: number}]}",
    )
    result = await run_process(source, "p", config={"limit": text})
    assert result.error is not None and result.error.code == "invalid_config"
    assert result.error.message.startswith("configuration value 'limit': ")
    assert len(result.error.message) < 200
    fine = await run_process(source, "p", config={"limit": "9223372036854775807"})
    assert fine.status == "ok"
    assert "limit" in result.error.message


async def test_set_props_and_docprops() -> None:
    source = process(
        """
        - set:
            props: {count: '($props.count // "0" | tonumber) + 1', last: .name}
            docprops:
              file_name: '.name + ".json"'
              file_content_type: '"application/json"'
              meta: '{n: .n}'
        - map: '{name, count: $props.count, last: $props.last, file: $docprops.file_name}'
        - return: {}
        """
    )
    result = await run_process(source, "p", [{"name": "a", "n": 1}, {"name": "b", "n": 2}])
    assert values(result) == [
        {"name": "a", "count": "2", "last": "b", "file": "a.json"},
        {"name": "b", "count": "2", "last": "b", "file": "b.json"},
    ]
    assert result.documents[1].properties == {
        "file_name": "b.json",
        "file_content_type": "application/json",
        "meta": '{"n":2}',
    }


async def test_set_null_removes_a_property() -> None:
    source = process(
        """
        - set: {docprops: {gone: 'null'}, props: {p: 'null'}}
        - map: '{has: ($docprops | has("gone")), p: $props.p}'
        - return: {}
        """
    )
    result = await run_process(source, "p", [{}], props={"p": "x"})
    assert values(result) == [{"has": False, "p": None}]


async def test_decision_partitions_and_both_sides_continue_then_first() -> None:
    source = process(
        """
        - decision:
            if: '.n > 1'
            then:
              - map: '. + {side: "then"}'
            else:
              - map: '. + {side: "else"}'
        - return: {}
        """
    )
    result = await run_process(source, "p", [{"n": 1}, {"n": 2}, {"n": 3}])
    assert values(result) == [
        {"n": 2, "side": "then"},
        {"n": 3, "side": "then"},
        {"n": 1, "side": "else"},
    ]


async def test_decision_without_else_passes_documents_through() -> None:
    source = process("- decision: {if: .ok, then: [{map: '{x: 1}'}]}\n- return: {}")
    result = await run_process(source, "p", [{"ok": True}, {"ok": False}])
    assert values(result) == [{"x": 1}, {"ok": False}]


async def test_route_by_value_with_default() -> None:
    source = process(
        """
        - route:
            by: .kind
            routes:
              gold: [{map: '{gold: .id}'}]
              1: [{map: '{one: .id}'}]
            default: [{map: '{other: .id}'}]
        - return: {}
        """
    )
    docs = [{"kind": "x", "id": 1}, {"kind": "gold", "id": 2}, {"kind": 1, "id": 3}]
    result = await run_process(source, "p", docs)
    assert values(result) == [{"gold": 2}, {"one": 3}, {"other": 1}]


async def test_branch_gives_every_branch_all_documents_in_order() -> None:
    source = process(
        """
        - branch:
            - [{map: '{a: .n}'}]
            - [{set: {docprops: {b: '"yes"'}}}, {map: '{b: .n}'}]
        - return: {}
        """
    )
    result = await run_process(source, "p", [{"n": 1}, {"n": 2}])
    assert values(result) == [{"a": 1}, {"a": 2}, {"b": 1}, {"b": 2}]
    # The second branch's properties do not leak into the first branch's documents.
    assert [d.properties for d in result.documents] == [{}, {}, {"b": "yes"}, {"b": "yes"}]


async def test_filter_keeps_truthy_documents() -> None:
    source = process("- filter: .keep\n- return: {}")
    docs = [{"keep": True}, {"keep": False}, {"keep": None}, {"keep": 0}, {}]
    result = await run_process(source, "p", docs)
    assert values(result) == [{"keep": True}, {"keep": 0}]


async def test_an_empty_list_skips_the_rest_of_the_path() -> None:
    source = process("- filter: 'false'\n- fail: '\"never\"'")
    result = await run_process(source, "p", [{}])
    assert result.status == "ok"
    assert [t.type for t in result.trace] == ["filter"]


async def test_split_default_and_expression() -> None:
    source = process("- split: {}\n- split: '.parts[]'\n- return: {}")
    result = await run_process(source, "p", [[{"parts": [1, 2]}, {"parts": [3]}]])
    assert values(result) == [1, 2, 3]


async def test_combine_plain_and_keyed() -> None:
    plain = await run_process(process("- combine: {}\n- return: {}"), "p", [1, {"a": 2}])
    assert values(plain) == [[1, {"a": 2}]]
    keyed = await run_process(process("- combine: {key: items}\n- return: {}"), "p", [1, 2])
    assert values(keyed) == [{"items": [1, 2]}]


async def test_try_retries_the_block_then_catches_with_error_properties() -> None:
    source = process(
        """
        - try:
            retries: 2
            backoff: 1ms
            steps:
              - set: {props: {attempts: '($props.attempts // "0" | tonumber) + 1'}}
              - fail: '"bad " + .id'
            catch:
              - map: >-
                  {id, attempts: $props.attempts, message: $docprops.error_message,
                   at: $docprops.error_step}
        - return: {}
        """
    )
    result = await run_process(source, "p", [{"id": "a"}])
    assert result.status == "ok", result.error
    assert values(result) == [
        {
            "id": "a",
            "attempts": "3",
            "message": "fail step: bad a",
            "at": "processes.p.steps[0].steps[1]",
        }
    ]


async def test_try_succeeds_on_a_later_attempt() -> None:
    source = process(
        """
        - try:
            retries: 3
            backoff: 0s
            steps:
              - set: {props: {n: '($props.n // "0" | tonumber) + 1'}}
              - decision: {if: '$props.n | tonumber < 3', then: [{fail: '"not yet"'}]}
        - map: '{n: $props.n}'
        - return: {}
        """
    )
    result = await run_process(source, "p", [{}])
    assert values(result) == [{"n": "3"}]


async def test_try_without_catch_drops_documents_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    source = process("- try: {steps: [{fail: '\"boom\"'}]}\n- return: {}")
    with caplog.at_level(logging.WARNING, logger="flowhost.process"):
        result = await run_process(source, "p", [{}], execution_id="ex-9")
    assert result.status == "ok" and result.documents == []
    assert "ex-9" in caplog.text and "boom" in caplog.text


async def test_fail_names_step_type_and_message() -> None:
    result = await run_process(
        process("- map: .\n- fail: '\"no stock for \" + .sku'"), "p", [{"sku": "x"}]
    )
    assert result.status == "failed" and result.error is not None
    assert result.error.step_path == "processes.p.steps[1]"
    assert result.error.message == "fail step: no stock for x"
    assert result.error.code == "process_failed"


async def test_stop_ends_the_execution_and_returned_documents_stand() -> None:
    source = process(
        """
        - branch:
            - [{return: {}}]
            - [{stop: {}}]
            - [{map: '{late: true}'}, {return: {}}]
        """
    )
    result = await run_process(source, "p", [{"n": 1}])
    assert result.status == "ok"
    assert values(result) == [{"n": 1}]


async def test_return_outcome_and_faults_from_the_first_document() -> None:
    source = process(
        """
        - return:
            outcome: 'if .total > 100 then "dear" else "cheap" end'
            faults: '{total: .total, note: "x"}'
        """
    )
    result = await run_process(source, "p", [{"total": 150}, {"total": 1}])
    assert result.outcome == "dear"
    assert result.faults == {"total": "150", "note": "x"}
    assert values(result) == [{"total": 150}, {"total": 1}]


async def test_log_passes_documents_through(caplog: pytest.LogCaptureFixture) -> None:
    source = process(
        """
        - log: {level: warning, message: '"order " + .id'}
        - log: '"short form " + .id'
        - return: {}
        """
    )
    with caplog.at_level(logging.INFO, logger="flowhost.process"):
        result = await run_process(source, "p", [{"id": "7"}], execution_id="ex-1")
    assert values(result) == [{"id": "7"}]
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("WARNING", "execution ex-1: order 7") in messages
    assert ("INFO", "execution ex-1: short form 7") in messages


async def test_call_runs_another_process_with_the_same_props() -> None:
    source = package(
        """
        main:
          steps:
            - set: {props: {greeting: '"hello"'}}
            - call: greet
            - call: {process: shout}
            - return: {}
        greet:
          steps:
            - map: '{text: ($props.greeting + " " + .name)}'
            - set: {props: {greeted: .text}}
            - return: {outcome: '"ignored"'}
        shout:
          steps:
            - map: '{text: (.text | ascii_upcase), greeted: $props.greeted}'
            - return: {}
        """
    )
    result = await run_process(source, "main", [{"name": "ann"}])
    assert values(result) == [{"text": "HELLO ANN", "greeted": "hello ann"}]
    assert result.outcome is None


async def test_sleep_waits_and_passes_documents_through() -> None:
    started = time.perf_counter()
    result = await run_process(process("- sleep: 50ms\n- return: {}"), "p", [{"a": 1}])
    assert time.perf_counter() - started >= 0.05
    assert values(result) == [{"a": 1}]


async def test_sleep_is_cancellable() -> None:
    task = asyncio.create_task(run_process(process("- sleep: 10s"), "p"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
