"""The engine: results, failures with step paths, deadlines, cancellation, traces, step plug-ins."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from executors.runtime import CompiledPackage, Document, PackageInvalid, load_package
from executors.runtime.registry import step_types
from executors.testing import compile_package, run_process, values

from .helpers import package, process


async def test_unknown_process_fails_with_its_code() -> None:
    result = await run_process(process("- return: {}"), "nope")
    assert result.status == "failed" and result.error is not None
    assert result.error.code == "unknown_process"
    assert "nope" in result.error.message


async def test_documents_left_at_the_end_without_return_are_not_returned() -> None:
    result = await run_process(process("- map: ."), "p", [{"a": 1}])
    assert result.status == "ok" and result.documents == []


async def test_nested_failure_names_its_path_type_and_cause_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = process(
        """
        - map: .
        - decision:
            if: 'true'
            then:
              - map: '.a.b'
        """
    )
    with caplog.at_level(logging.DEBUG):
        result = await run_process(source, "p", [{"a": 5}])
    assert result.status == "failed" and result.error is not None
    assert result.error.step_path == "processes.p.steps[1].then[0]"
    assert result.error.code == "jq_error"
    assert result.error.message == (
        "map step: jq error in '.a.b': Cannot index number with string (\"b\")"
    )
    assert "Traceback" not in result.error.message
    failed = [t for t in result.trace if t.error]
    assert [t.path for t in failed] == ["processes.p.steps[1]", "processes.p.steps[1].then[0]"]


async def test_failure_inside_a_called_process_names_the_callee_step() -> None:
    source = package(
        """
        main: {steps: [{call: inner}]}
        inner: {steps: [{map: .}, {fail: '"inner broke"'}]}
        """
    )
    result = await run_process(source, "main")
    assert result.error is not None
    assert result.error.step_path == "processes.inner.steps[1]"
    assert result.error.message == "fail step: inner broke"


async def test_deadline_stops_a_sleep_loop_and_names_the_step() -> None:
    source = package(
        """
        loop:
          timeout: 200ms
          steps:
            - sleep: 20ms
            - call: loop
        """
    )
    started = time.perf_counter()
    result = await run_process(source, "loop")
    elapsed = time.perf_counter() - started
    assert 0.2 <= elapsed < 1.0
    assert result.status == "deadline" and result.error is not None
    assert result.error.code == "deadline_exceeded"
    assert result.error.step_path == "processes.loop.steps[0]"
    assert result.error.message == "deadline of 0.2s exceeded while running the sleep step"


async def test_deadline_stops_a_self_recursive_call_without_any_wait() -> None:
    """Unstopped, this recursion passes CALL_BRAKE_DEPTH within about half a second, then waits
    1 ms more per level: 1,000 levels further take ~8 minutes. So a bound of 30 times the
    deadline still fails when the deadline is not enforced, while a loaded machine (2.4 s
    measured at load 18 on 2 cores, against a 1.5 s bound before) stays well inside it."""
    source = package("forever: {steps: [{call: forever}]}")
    deadline_s = 0.3
    try:
        result = await asyncio.wait_for(
            run_process(source, "forever", timeout_s=deadline_s), 30 * deadline_s
        )
    except TimeoutError:
        pytest.fail(f"a {deadline_s}s deadline did not stop the recursion in {30 * deadline_s}s")
    assert result.status == "deadline" and result.error is not None
    assert result.error.code == "deadline_exceeded"
    assert result.error.step_path == "processes.forever.steps[0]"


async def test_deadline_is_not_caught_by_try() -> None:
    source = process("- try: {steps: [{sleep: 5s}], catch: [{return: {}}]}")
    result = await run_process(source, "p", timeout_s=0.05)
    assert result.status == "deadline" and result.error is not None
    assert result.error.step_path == "processes.p.steps[0].steps[0]"


async def test_cancelling_run_propagates() -> None:
    compiled = compile_package(process("- sleep: 10s"))
    task = asyncio.create_task(compiled.run("p", [Document.from_value({})]))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_inside_a_called_process_ends_everything() -> None:
    source = package(
        """
        main:
          steps:
            - branch:
                - [{return: {}}]
                - [{call: halt}]
                - [{fail: '"not reached"'}]
        halt: {steps: [{stop: {}}]}
        """
    )
    result = await run_process(source, "main", [{"a": 1}])
    assert result.status == "ok"
    assert values(result) == [{"a": 1}]


async def test_pass_through_documents_keep_their_bytes() -> None:
    compiled = compile_package(process("- filter: 'true'\n- log: '\"seen\"'\n- return: {}"))
    raw = b'{"big":   [1, 2, 3]}'
    result = await compiled.run("p", [Document.from_bytes(raw)])
    assert result.documents[0].raw is raw


async def test_trace_and_recording() -> None:
    source = package(
        """
        fast: {steps: [{map: '{n: .n}'}, {return: {}}]}
        recorded: {mode: general, steps: [{map: '{n: .n}'}, {return: {}}]}
        """
    )
    compiled = compile_package(source)
    docs = [Document.from_value({"n": 1, "pad": "x" * 70_000})]
    fast = await compiled.run("fast", docs)
    assert [(t.path, t.type, t.documents_in, t.documents_out) for t in fast.trace] == [
        ("processes.fast.steps[0]", "map", 1, 1),
        ("processes.fast.steps[1]", "return", 1, 0),
    ]
    assert fast.trace[0].inputs is None and fast.duration_us > 0
    recorded = await compiled.run("recorded", docs)
    # The whole document is kept; the executor cuts it when it encodes the trace.
    assert recorded.trace[0].inputs == [docs[0].raw]
    assert recorded.trace[0].outputs == [b'{"n":1}']
    asked = await compiled.run("fast", docs, record=True)
    assert asked.trace[0].outputs == [b'{"n":1}']


async def test_props_given_to_run_are_not_changed() -> None:
    props = {"a": "1"}
    await run_process(process("- set: {props: {a: '\"2\"'}}"), "p", props=props)
    assert props == {"a": "1"}


def test_compile_reuses_the_programs_compiled_at_load() -> None:
    package_ = load_package(process("- map: .\n- return: {}"))
    first = CompiledPackage.compile(package_)
    second = CompiledPackage.compile(package_)
    assert first._plans["p"].steps[0].step is second._plans["p"].steps[0].step


def test_compile_validates_a_package_built_by_hand() -> None:
    from dataclasses import replace

    package_ = load_package(process("- map: .\n- return: {}"))
    broken = replace(
        package_,
        processes={"p": replace(package_.processes["p"], steps=[{"map": "{"}])},
        _plans=None,
    )
    with pytest.raises(PackageInvalid) as caught:
        CompiledPackage.compile(broken)
    assert caught.value.issues[0].path == "processes.p.steps[0].map"


# --- third-party step types through the entry-point group ------------------------------------

PLUGIN = """
from executors.runtime.compile import StepTypeDef
from executors.runtime.errors import StepError


class Upper:
    def __init__(self, field):
        self.field = field

    async def run(self, documents, ctx):
        out = []
        for document in documents:
            value = dict(document.value)
            if self.field not in value:
                raise StepError(f"no field {self.field!r}")
            if value[self.field] == "crash":
                raise RuntimeError("plugin bug")
            value[self.field] = value[self.field].upper()
            out.append(document.with_value(value))
        return out


def compile_upper(config, ctx):
    options = ctx.options(config, required=("field",))
    return Upper(options.get("field", ""))


step_type = StepTypeDef("upper", compile_upper)
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[None]:
    """A real installed distribution declaring a step type in `flowhost.steps`."""
    (tmp_path / "flowhost_upper.py").write_text(PLUGIN)
    dist = tmp_path / "flowhost_upper-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flowhost-upper\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flowhost.steps]\nupper = flowhost_upper:step_type\n")
    sys.path.insert(0, str(tmp_path))
    step_types.cache_clear()
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flowhost_upper", None)
        step_types.cache_clear()


async def test_a_third_party_step_type_loads_from_the_entry_point_group(plugin: None) -> None:
    assert "upper" in step_types()
    source = process("- upper: {field: name}\n- return: {}")
    result = await run_process(source, "p", [{"name": "ann"}])
    assert values(result) == [{"name": "ANN"}]

    failed = await run_process(source, "p", [{"nom": "ann"}])
    assert failed.error is not None
    assert failed.error.message == "upper step: no field 'name'"

    crashed = await run_process(source, "p", [{"name": "crash"}])
    assert crashed.error is not None
    assert crashed.error.message == "upper step: plugin bug"
    assert crashed.error.code == "step_failed"

    with pytest.raises(PackageInvalid) as caught:
        load_package(process("- upper: {feld: name}"))
    assert {i.path for i in caught.value.issues} == {
        "processes.p.steps[0].feld",
        "processes.p.steps[0]",
    }
