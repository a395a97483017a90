"""A package's own tests (`tests:`), run in-process by the real step engine with canned answers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from executors.package_test_runner import Verdict, load_tested_package, run_tests
from executors.runtime import PackageInvalid, load_package

RATES = """
name: rates
version: '1'
service:
  path: rates
  actions: [{name: convert, process: convert, outcomes: [big, small]}]
processes:
  convert:
    steps:
      - set: {props: {amount: '.amount'}}
      - http: {url: '"https://rates.example.com/v1/\\(.currency)?key=secret"'}
      - map: '{converted: (($props.amount | tonumber) * .rate), source: $config.source}'
      - decision:
          if: '.converted > 100'
          then: [{return: {outcome: '"big"'}}]
          else: [{return: {outcome: '"small"'}}]
"""


def with_tests(tests: str, package: str = RATES) -> str:
    return package + "tests:\n" + textwrap.indent(textwrap.dedent(tests).strip("\n"), "  ") + "\n"


async def run(tests: str, package: str = RATES) -> list[Verdict]:
    return await run_tests(load_package(with_tests(tests, package)))


ANSWER = """
          answers:
            - {http: 'GET https://rates.example.com/v1/*', body: {rate: 2}}"""


async def test_a_canned_http_answer_feeds_the_process_and_the_expectations_hold() -> None:
    [result] = await run(
        """
        - name: converts
          action: convert
          input: {amount: 60, currency: USD}
          config: {source: test}"""
        + ANSWER
        + """
          expect:
            outcome: big
            document: {converted: 120, source: test}
        """
    )
    assert result.passed, result.problem
    assert result.package == "rates"


async def test_documents_that_differ_read_as_a_unified_diff() -> None:
    [result] = await run(
        """
        - name: wrong total
          process: convert
          input: {amount: 10, currency: USD}"""
        + ANSWER
        + """
          expect:
            outcome: small
            document: {converted: 21, source: null}
        """
    )
    assert not result.passed
    assert "documents differ:\n--- expected\n+++ actual" in result.problem
    assert '-    "converted": 21,' in result.problem
    assert '+    "converted": 20,' in result.problem
    assert "calls answered: http GET https://rates.example.com/v1/USD" in result.problem


async def test_a_wrong_outcome_is_named() -> None:
    [result] = await run(
        """
        - name: outcome
          process: convert
          input: {amount: 1, currency: USD}"""
        + ANSWER
        + """
          expect: {outcome: big}
        """
    )
    assert result.problem.startswith("outcome: expected 'big', got 'small'")


async def test_a_call_without_a_canned_answer_fails_clearly_and_sends_nothing() -> None:
    [result] = await run(
        """
        - name: unanswered
          process: convert
          input: {amount: 1, currency: EUR}
          answers: [{http: 'POST https://rates.example.com/v1/*', body: {rate: 1}}]
          expect: {document: {}}
        """
    )
    assert not result.passed
    # The query string (which may hold a secret) is not part of what is matched or shown.
    assert result.problem == (
        "the process failed: unanswered_call at processes.convert.steps[1]: http step: "
        "no canned answer for http call GET https://rates.example.com/v1/EUR "
        "(add one to the test's answers)"
    )


async def test_an_expected_error_passes_and_a_different_one_fails() -> None:
    results = await run(
        """
        - name: upstream down
          process: convert
          input: {amount: 1, currency: USD}
          answers: [{http: 'GET https://rates.example.com/*', status: 404, body: gone}]
          expect: {error: {code: http_error, message: returned 404}}
        - name: expects another code
          process: convert
          input: {amount: 1, currency: USD}
          answers: [{http: 'GET https://rates.example.com/*', status: 404, body: gone}]
          expect: {error: db_error}
        - name: expects an error that does not come
          process: convert
          input: {amount: 1, currency: USD}"""
        + ANSWER
        + """
          expect: {error: http_error}
        """
    )
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].problem.startswith(
        "expected the error db_error, got http_error at processes.convert.steps[1]: http step: "
        "GET https://rates.example.com/v1/USD returned 404 Not Found: gone"
    )
    assert results[2].problem.startswith(
        "expected the error http_error, but the process returned:\n[\n  {"
    )


def test_malformed_tests_are_refused_with_their_paths() -> None:
    with pytest.raises(PackageInvalid) as refused:
        load_package(
            with_tests(
                """
                - {name: a, process: nope, expect: {documents: []}}
                - {name: b, action: convert, process: convert, expect: {outcome: x}}
                - {name: c, process: convert, answers: [{http: rates.example.com}], expect: {}}
                - {name: c, process: convert, data: Thing, expect: {error: x, outcome: y}}
                - {name: e, process: convert, answers: [{status: 99, flow: f}]}
                """
            )
        )
    assert [str(issue) for issue in refused.value.issues] == [
        "tests[0].process: no process named 'nope'",
        "tests[1]: a test runs exactly one of 'process' or 'action'",
        "tests[2].expect: expect at least one of documents, document, outcome, error, published",
        "tests[2].answers[0].http: expected 'METHOD URL' (GET https://host/path/*)",
        "tests[3].data: no data action for type 'Thing'",
        "tests[3].expect: a test expecting an error expects no documents or outcome",
        "tests[3].name: duplicate test 'c'",
        "tests[4].expect: a test needs 'expect' (documents, outcome or error)",
        "tests[4].answers[0].status: expected an HTTP status, got 99",
    ]


def test_a_sidecar_file_adds_tests_and_its_issues_name_it(tmp_path: Path) -> None:
    package = tmp_path / "rates.yaml"
    package.write_text(with_tests("- {name: inline, process: convert, expect: {outcome: big}}"))
    sidecar = tmp_path / "rates.test.yaml"
    sidecar.write_text("tests:\n  - {name: beside, action: convert, expect: {outcome: small}}\n")
    assert [t.name for t in load_tested_package(package).tests] == ["inline", "beside"]
    sidecar.write_text("- {name: inline, process: convert, expect: {outcome: big}}\n")
    with pytest.raises(PackageInvalid) as refused:
        load_tested_package(package)
    assert [str(i) for i in refused.value.issues] == [
        "rates.test.yaml:tests: duplicate test 'inline' (also in the package)"
    ]


async def test_each_test_gets_a_fresh_files_root() -> None:
    """Two runs of a process that creates a table and inserts the same key both pass: neither
    sees the other's database (nor anything outside its temporary root)."""
    package = """
name: store
version: '1'
service: {path: store}
processes:
  insert:
    steps:
      - db: {url: '"sqlite:///t.db"', sql: 'CREATE TABLE t (k TEXT PRIMARY KEY)'}
      - db: {url: '"sqlite:///t.db"', sql: "INSERT INTO t VALUES ('x')"}
      - db: {url: '"sqlite:///t.db"', sql: 'SELECT k FROM t'}
      - return: {}
"""
    once = "process: insert\n  expect: {document: {k: x}}"
    results = await run(f"- name: first\n  {once}\n- name: second\n  {once}", package)
    assert [(r.passed, r.problem) for r in results] == [(True, ""), (True, "")]


PACKAGES_MD = Path(__file__).resolve().parents[2] / "docs" / "packages.md"


async def test_the_example_in_docs_packages_md_passes() -> None:
    text = PACKAGES_MD.read_text()
    section = text.split("\n## Tests\n", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    results = await run_tests(load_package(RATES + block))
    assert [(r.name, r.passed, r.problem) for r in results] == [
        ("converts at the day's rate", True, ""),
        ("an unknown currency fails the action", True, ""),
    ]


async def test_a_hung_test_fails_at_the_test_timeout_and_a_deadline_test_keeps_its_own() -> None:
    package = """
name: slow
version: '1'
service: {path: slow}
processes:
  hang: {steps: [{sleep: 30s}, {return: {}}]}
  quick-deadline: {timeout: 100ms, steps: [{sleep: 30s}, {return: {}}]}
tests:
  - {name: hangs, process: hang, expect: {documents: []}}
  - {name: deadline, process: quick-deadline, expect: {error: deadline_exceeded}}
"""
    hung, deadline = await run_tests(load_package(package), timeout_s=0.2)
    assert hung.problem.startswith("the process failed: deadline_exceeded")
    assert "deadline of 0.2s exceeded" in hung.problem
    assert deadline.passed, deadline.problem
