"""A package's ``tests:``: what each test runs, what it answers the outside with, what it expects.

Parsed and checked here (every issue with its path, as for the rest of a package) so a package
with a malformed test is refused at deploy like any other mistake; executors/package_test_runner.py
runs them. A test names a process or an action, gives its input documents, configuration and
properties, canned answers for its outside calls (answers.py), and expects documents, an
outcome, or an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .compile import describe, join_path, unknown_key_message
from .errors import Issue

TEST_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")
#: The step types whose calls a test can answer, and what their answer's target means.
ANSWERED_KINDS = ("http", "flow", "request", "publish")
_TEST_KEYS = (
    "name",
    "process",
    "action",
    "data",
    "input",
    "inputs",
    "config",
    "props",
    "properties",
    "answers",
    "expect",
)
_ANSWER_KEYS = ("status", "body", "headers", *ANSWERED_KINDS)
_EXPECT_KEYS = ("documents", "document", "outcome", "error", "published")


@dataclass(frozen=True)
class CannedAnswer:
    """One canned answer: for ``kind`` calls whose target matches ``pattern`` (``*`` wildcards).

    For ``http`` the pattern is ``METHOD URL`` (``GET https://api.example.com/rates/*``; the
    query string is not part of the URL matched), for ``flow`` the flow id, for ``request``
    and ``publish`` the expanded subject, queue or topic. A ``publish`` answer only lets the
    message go (to the test's ``published``); it has no status, body or headers.
    """

    kind: str
    pattern: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpectedError:
    """An expected failure: its code, and text its message contains."""

    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class PackageTest:
    """One test of a package."""

    name: str
    process: str
    action: str = ""
    #: The data action type the run serves (``db`` in table mode and ``flow_filter`` need it).
    data: str = ""
    inputs: list[Any] = field(default_factory=lambda: [{}])
    config: dict[str, str] = field(default_factory=dict)
    props: dict[str, str] = field(default_factory=dict)
    #: Document properties every input document carries (``flow_operation: create`` for a save
    #: of a new object, as the gateway sets it).
    properties: dict[str, str] = field(default_factory=dict)
    answers: list[CannedAnswer] = field(default_factory=list)
    documents: list[Any] | None = None
    outcome: str | None = None
    error: ExpectedError | None = None
    #: The messages the ``publish`` steps send, in order (``{subject, body, headers?, key?}``).
    published: list[Any] | None = None


def parse_tests(
    raw: Any,
    path: str,
    processes: Collection[str],
    actions: Mapping[str, str],
    data_types: Collection[str] = (),
) -> tuple[list[PackageTest], list[Issue]]:
    """The tests in ``raw`` (a list), and every issue; ``actions`` maps action to process,
    ``data_types`` are the package's data action types."""
    issues: list[Issue] = []
    tests: list[PackageTest] = []
    if raw is None:
        return tests, issues
    if not isinstance(raw, list):
        return tests, [Issue(path, f"expected a list of tests, got {describe(raw)}")]
    seen: set[str] = set()
    for index, item in enumerate(raw):
        here = join_path(path, index)
        test = _test(item, here, processes, actions, data_types, issues)
        if test is None:
            continue
        if test.name in seen:
            issues.append(Issue(f"{here}.name", f"duplicate test '{test.name}'"))
        seen.add(test.name)
        tests.append(test)
    return tests, issues


def _mapping(
    value: Any, path: str, known: tuple[str, ...], issues: list[Issue]
) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        issues.append(Issue(path, f"expected a mapping, got {describe(value)}"))
        return None
    for key in value:
        if key not in known:
            issues.append(Issue(join_path(path, str(key)), unknown_key_message(key, known)))
    return value


def _strings(value: Any, path: str, issues: list[Issue]) -> dict[str, str]:
    """A mapping of names to scalars, as the strings configuration and properties are."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        issues.append(Issue(path, f"expected a mapping of names to values, got {describe(value)}"))
        return {}
    result = {}
    for name, item in value.items():
        if isinstance(item, bool):
            result[str(name)] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            result[str(name)] = str(item)
        else:
            issues.append(
                Issue(join_path(path, str(name)), f"expected a scalar, got {describe(item)}")
            )
    return result


def _test(
    item: Any,
    here: str,
    processes: Collection[str],
    actions: Mapping[str, str],
    data_types: Collection[str],
    issues: list[Issue],
) -> PackageTest | None:
    body = _mapping(item, here, _TEST_KEYS, issues)
    if body is None:
        return None
    name = body.get("name")
    if not isinstance(name, str) or not TEST_NAME.match(name):
        issues.append(Issue(f"{here}.name", "a test needs a name (one line of text)"))
        name = ""
    process, action = body.get("process"), body.get("action")
    if (process is None) == (action is None):
        issues.append(Issue(here, "a test runs exactly one of 'process' or 'action'"))
        return None
    if action is not None:
        if action not in actions:
            issues.append(Issue(f"{here}.action", f"no action named {action!r}"))
            return None
        process = actions[action]
    elif process not in processes:
        issues.append(Issue(f"{here}.process", f"no process named {process!r}"))
        return None
    data = body.get("data")
    if data is not None and data not in data_types:
        issues.append(Issue(f"{here}.data", f"no data action for type {data!r}"))
        data = None
    if "input" in body and "inputs" in body:
        issues.append(Issue(here, "give 'input' (one document) or 'inputs' (a list), not both"))
    inputs: list[Any] = [body.get("input", {})]
    if "inputs" in body:
        if isinstance(body["inputs"], list):
            inputs = body["inputs"]
        else:
            got = describe(body["inputs"])
            issues.append(Issue(f"{here}.inputs", f"expected a list of documents, got {got}"))
    documents, outcome, error = _expect(body.get("expect"), f"{here}.expect", issues)
    published = _published(body.get("expect"), f"{here}.expect.published", issues)
    return PackageTest(
        name=name,
        process=str(process),
        action=str(action or ""),
        data=str(data or ""),
        inputs=inputs,
        config=_strings(body.get("config"), f"{here}.config", issues),
        props=_strings(body.get("props"), f"{here}.props", issues),
        properties=_strings(body.get("properties"), f"{here}.properties", issues),
        answers=_answers(body.get("answers"), f"{here}.answers", issues),
        documents=documents,
        outcome=outcome,
        error=error,
        published=published,
    )


def _published(expect: Any, path: str, issues: list[Issue]) -> list[Any] | None:
    if not isinstance(expect, dict) or "published" not in expect:
        return None
    raw = expect["published"]
    if not isinstance(raw, list):
        issues.append(Issue(path, f"expected a list of messages, got {describe(raw)}"))
        return None
    return raw


def _answers(raw: Any, path: str, issues: list[Issue]) -> list[CannedAnswer]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(Issue(path, f"expected a list of answers, got {describe(raw)}"))
        return []
    result = []
    for index, item in enumerate(raw):
        here = join_path(path, index)
        body = _mapping(item, here, _ANSWER_KEYS, issues)
        if body is None:
            continue
        kinds = [kind for kind in ANSWERED_KINDS if kind in body]
        if len(kinds) != 1:
            issues.append(
                Issue(here, f"an answer names exactly one call: one of {', '.join(ANSWERED_KINDS)}")
            )
            continue
        kind = kinds[0]
        pattern = body[kind]
        if not isinstance(pattern, str) or not pattern.strip():
            issues.append(Issue(join_path(here, kind), "expected the call to answer, as text"))
            continue
        if kind == "http" and len(pattern.split(None, 1)) != 2:
            issues.append(
                Issue(join_path(here, kind), "expected 'METHOD URL' (GET https://host/path/*)")
            )
            continue
        if kind in ("request", "publish") and "status" in body:
            issues.append(Issue(f"{here}.status", f"a {kind} answer has no status"))
        if kind == "publish" and ("body" in body or "headers" in body):
            issues.append(
                Issue(here, "a publish answer only names the destination (expect 'published')")
            )
        status = body.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            issues.append(Issue(f"{here}.status", f"expected an HTTP status, got {status!r}"))
            status = 200
        result.append(
            CannedAnswer(
                kind=kind,
                pattern=" ".join(pattern.split()),
                status=status,
                body=body.get("body"),
                headers=_strings(body.get("headers"), f"{here}.headers", issues),
            )
        )
    return result


def _expect(
    raw: Any, path: str, issues: list[Issue]
) -> tuple[list[Any] | None, str | None, ExpectedError | None]:
    if raw is None:
        issues.append(Issue(path, "a test needs 'expect' (documents, outcome or error)"))
        return None, None, None
    body = _mapping(raw, path, _EXPECT_KEYS, issues)
    if body is None:
        return None, None, None
    if not any(key in body for key in _EXPECT_KEYS):
        issues.append(
            Issue(path, "expect at least one of documents, document, outcome, error, published")
        )
    if "document" in body and "documents" in body:
        issues.append(Issue(path, "give 'document' or 'documents', not both"))
    documents: list[Any] | None = None
    if "document" in body:
        documents = [body["document"]]
    elif "documents" in body:
        if isinstance(body["documents"], list):
            documents = body["documents"]
        else:
            issues.append(
                Issue(f"{path}.documents", f"expected a list, got {describe(body['documents'])}")
            )
    outcome = body.get("outcome")
    if outcome is not None and not isinstance(outcome, str):
        issues.append(Issue(f"{path}.outcome", f"expected text, got {describe(outcome)}"))
        outcome = None
    error = None
    if "error" in body:
        raw_error = body["error"]
        if isinstance(raw_error, str):
            error = ExpectedError(code=raw_error)
        elif (
            shape := _mapping(raw_error, f"{path}.error", ("code", "message"), issues)
        ) is not None:
            error = ExpectedError(
                code=str(shape.get("code") or ""), message=str(shape.get("message") or "")
            )
        if error is not None and (documents is not None or outcome is not None):
            issues.append(Issue(path, "a test expecting an error expects no documents or outcome"))
    return documents, outcome, error


__all__ = ["ANSWERED_KINDS", "CannedAnswer", "ExpectedError", "PackageTest", "parse_tests"]
