"""Run a package's tests in-process with the real step engine: no gateway, no gRPC, no network.

Each test runs its process once through ``CompiledPackage.run`` with the test's configuration
and properties, in a fresh temporary files root (so ``db`` on SQLite and ``file`` steps work and
leave nothing behind), with its canned answers as the engine's ``answers`` hook (answers.py):
a call the test gives no answer for fails the run with ``unanswered_call``. The result is
compared with what the test expects; a mismatch reads as a unified diff of the JSON.

Tests come from the package's ``tests:`` and from a ``<name>.test.yaml`` beside its file.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .runtime.answers import Answer, unanswered
from .runtime.documents import Document
from .runtime.engine import CompiledPackage, ProcessResult
from .runtime.errors import Issue, PackageInvalid
from .runtime.loader import load_yaml
from .runtime.package import Package, load_package
from .runtime.package_tests import CannedAnswer, PackageTest, parse_tests
from .runtime.policy import RuntimePolicy

#: The longest a test may run when its process allows longer: a hung test (a `sleep`, a call
#: that never answers) fails in CI after this, not after a process's 300 s default.
TEST_TIMEOUT_S = 60.0
#: Beside ``shop.yaml``, ``shop.test.yaml`` holds more tests of that package.
SIDECAR_SUFFIX = ".test.yaml"


@dataclass(frozen=True)
class Verdict:
    """How one test went: passed, or why not (readable text, a diff when documents differ)."""

    package: str
    name: str
    passed: bool
    duration_s: float
    problem: str = ""


class CannedAnswers:
    """The ``Answers`` of one test: the first canned answer whose pattern matches the call."""

    def __init__(self, answers: list[CannedAnswer]):
        self._answers = answers
        #: Every call answered, in order (``http GET https://…``): shown when a test fails.
        self.calls: list[str] = []
        #: The messages the ``publish`` steps sent, in order (``expect: published``).
        self.published: list[dict[str, Any]] = []

    def answer(self, kind: str, target: str) -> Answer:
        for canned in self._answers:
            if canned.kind == kind and _matches(kind, target, canned.pattern):
                self.calls.append(f"{kind} {target}")
                return Answer(canned.status, canned.body, dict(canned.headers))
        raise unanswered(kind, target)

    def publish(self, target: str, message: dict[str, Any]) -> None:
        self.answer("publish", target)
        self.published.append(message)


def _matches(kind: str, target: str, pattern: str) -> bool:
    if kind == "http":  # the method is a word, not case-sensitive; the URL is
        method, _, url = pattern.partition(" ")
        got_method, _, got_url = target.partition(" ")
        return method.upper() == got_method and fnmatch.fnmatchcase(got_url, url)
    return fnmatch.fnmatchcase(target, pattern)


def load_tested_package(path: Path) -> Package:
    """The package in ``path`` with the tests of its ``.test.yaml`` sidecar added.

    Raises ``PackageInvalid`` (the sidecar's issues are under ``<file>:tests``), ``OSError``.
    """
    package = load_package(path.read_text())
    sidecar = path.with_name(path.name.removesuffix(path.suffix) + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return package
    raw = load_yaml(sidecar.read_text())
    if isinstance(raw, dict) and set(raw) == {"tests"}:
        raw = raw["tests"]
    actions = {action.name: action.process for action in package.service.actions}
    types = [data.type for data in package.service.data]
    more, issues = parse_tests(raw, f"{sidecar.name}:tests", package.processes, actions, types)
    names = {test.name for test in package.tests}
    issues += [
        Issue(f"{sidecar.name}:tests", f"duplicate test '{test.name}' (also in the package)")
        for test in more
        if test.name in names
    ]
    if issues:
        raise PackageInvalid(issues)
    return dataclasses.replace(package, tests=[*package.tests, *more])


async def run_tests(package: Package, timeout_s: float = TEST_TIMEOUT_S) -> list[Verdict]:
    """Run every test of ``package``, each within its process's deadline or ``timeout_s``,
    whichever is shorter (a test of a deadline still sees its process's own)."""
    compiled = CompiledPackage.compile(package)
    try:
        return [await _run(compiled, test, timeout_s) for test in package.tests]
    finally:
        await compiled.aclose()


async def _run(compiled: CompiledPackage, test: PackageTest, timeout_s: float) -> Verdict:
    answers = CannedAnswers(test.answers)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flowhost-test-") as root:
        result = await compiled.run(
            test.process,
            [Document.from_value(value, dict(test.properties)) for value in test.inputs],
            props=test.props,
            config=test.config,
            timeout_s=min(timeout_s, compiled.package.processes[test.process].timeout_ms / 1000),
            execution_id=f"test:{test.name}",
            data_type=test.data,
            policy=RuntimePolicy(files_root=root),
            answers=answers,
        )
    problem = _problem(test, result)
    if not problem and test.published is not None and test.published != answers.published:
        problem = _differ("published messages", test.published, answers.published)
    if problem and answers.calls:
        problem += "\ncalls answered: " + ", ".join(answers.calls)
    return Verdict(
        compiled.package.name, test.name, not problem, time.perf_counter() - start, problem
    )


def _problem(test: PackageTest, result: ProcessResult) -> str:
    """What differs from what the test expects ("" when nothing does)."""
    actual = [document.value for document in result.documents]
    if test.error is not None:
        if result.error is None:
            returned = _json(actual)
            return f"expected the error {_expected(test)}, but the process returned:\n{returned}"
        code_ok = not test.error.code or result.error.code == test.error.code
        if code_ok and test.error.message in result.error.message:
            return ""
        return f"expected the error {_expected(test)}, got {_failure(result)}"
    if result.error is not None:
        return f"the process failed: {_failure(result)}"
    problems = []
    if test.outcome is not None and result.outcome != test.outcome:
        problems.append(f"outcome: expected {test.outcome!r}, got {result.outcome!r}")
    if test.documents is not None and test.documents != actual:
        problems.append(_differ("documents", test.documents, actual))
    return "\n".join(problems)


def _differ(what: str, expected: Any, actual: Any) -> str:
    """``what`` differ, as a unified diff of the JSON."""
    diff = difflib.unified_diff(
        _json(expected).splitlines(), _json(actual).splitlines(), "expected", "actual", lineterm=""
    )
    return f"{what} differ:\n" + "\n".join(diff)


def _expected(test: PackageTest) -> str:
    assert test.error is not None
    code = test.error.code or "(any code)"
    return code + (f" containing {test.error.message!r}" if test.error.message else "")


def _failure(result: ProcessResult) -> str:
    assert result.error is not None
    where = f" at {result.error.step_path}" if result.error.step_path else ""
    return f"{result.error.code}{where}: {result.error.message}"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


__all__ = [
    "SIDECAR_SUFFIX",
    "TEST_TIMEOUT_S",
    "CannedAnswers",
    "Verdict",
    "load_tested_package",
    "run_tests",
]
