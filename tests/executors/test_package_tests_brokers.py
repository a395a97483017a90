"""Package tests answer the broker steps: canned `request` replies, `publish` recorded and expected.

The broker URL points at a port nothing listens on: a step that tried to connect would fail with
``broker_unreachable``, so every passing test here shows that nothing left the process.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from executors.package_test_runner import Verdict, run_tests
from executors.runtime import PackageInvalid, load_package

STOCK = """
name: stock
version: '1'
service:
  path: stock
  configuration:
    - {name: broker, default: 'nats://127.0.0.1:9', set_by: operator}
    - {name: prefix, default: shop, set_by: operator}
processes:
  check:
    steps:
      - request: {broker: broker, subject: '{prefix}.stock.{.sku}', body: '{sku}'}
      - publish: {broker: broker, subject: '{prefix}.stock.checked', key: .sku,
                  headers: {source: '"test"'}, body: '{sku, left: .available}'}
      - publish: {broker: broker, subject: '{prefix}.stock.raw'}
      - return: {}
  ask:
    steps:
      - request: {broker: broker, subject: '{prefix}.stock.{.sku}'}
      - publish: {broker: broker, subject: '{prefix}.stock.raw'}
      - return: {}
"""


def with_tests(tests: str) -> str:
    return STOCK + "tests:\n" + textwrap.indent(textwrap.dedent(tests).strip("\n"), "  ") + "\n"


async def run(tests: str) -> list[Verdict]:
    return await run_tests(load_package(with_tests(tests)))


CHECK = """
        - name: checks
          process: check
          input: {sku: tea}"""
ANSWERS = """
          answers:
            - {request: 'shop.stock.*', body: {sku: tea, available: 4}, headers: {region: eu}}
            - {publish: 'shop.stock.*'}"""
PUBLISHED = """
          expect:
            document: {sku: tea, available: 4}
            published:
              - {subject: shop.stock.checked, body: {sku: tea, left: 4},
                 headers: {source: test}, key: tea}
              - {subject: shop.stock.raw, body: {sku: tea, available: 4}}"""


async def test_a_canned_reply_is_the_document_and_the_published_messages_are_expected() -> None:
    [result] = await run(CHECK + ANSWERS + PUBLISHED)
    assert (result.passed, result.problem) == (True, "")


async def test_published_messages_that_differ_read_as_a_diff() -> None:
    [result] = await run(CHECK + ANSWERS + PUBLISHED.replace("left: 4", "left: 5"))
    assert not result.passed
    assert result.problem.startswith("published messages differ:\n--- expected\n+++ actual")
    assert '-      "left": 5,' in result.problem and '+      "left": 4,' in result.problem


async def test_a_text_reply_and_the_prefix_reach_the_destination() -> None:
    [result] = await run(
        """
        - name: text
          process: ask
          input: {sku: tea}
          config: {prefix: eu}
          answers:
            - {request: eu.stock.tea, body: sold out}
            - {publish: 'eu.stock.*'}
          expect:
            document: sold out
            published: [{subject: eu.stock.raw, body: sold out}]
        """
    )
    assert (result.passed, result.problem) == (True, "")


async def test_an_unanswered_request_or_publish_fails_clearly_without_connecting() -> None:
    no_request, no_publish = await run(
        """
        - name: no reply
          process: check
          input: {sku: tea}
          answers: [{publish: 'shop.stock.*'}]
          expect: {documents: []}
        - name: no publish
          process: check
          input: {sku: tea}
          answers: [{request: 'shop.stock.*', body: {}}, {publish: shop.stock.checked}]
          expect: {documents: []}
        """
    )
    assert no_request.problem == (
        "the process failed: unanswered_call at processes.check.steps[0]: request step: "
        "no canned answer for request call shop.stock.tea (add one to the test's answers)"
    )
    assert no_publish.problem.startswith(
        "the process failed: unanswered_call at processes.check.steps[2]: publish step: "
        "no canned answer for publish call shop.stock.raw"
    )


def test_malformed_broker_answers_are_refused_with_their_paths() -> None:
    with pytest.raises(PackageInvalid) as refused:
        load_package(
            with_tests(
                """
                - name: a
                  process: check
                  answers: [{request: x, status: 500}, {publish: y, body: z}, {request: ''}]
                  expect: {published: {subject: x}}
                """
            )
        )
    assert [str(issue) for issue in refused.value.issues] == [
        "tests[0].expect.published: expected a list of messages, got a mapping ({'subject': 'x'})",
        "tests[0].answers[0].status: a request answer has no status",
        "tests[0].answers[1]: a publish answer only names the destination (expect 'published')",
        "tests[0].answers[2].request: expected the call to answer, as text",
    ]


PACKAGES_MD = Path(__file__).resolve().parents[2] / "docs" / "packages.md"


async def test_the_broker_example_in_docs_packages_md_passes() -> None:
    section = PACKAGES_MD.read_text().split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml package\n", 1)[1].split("```", 1)[0]
    results = await run_tests(load_package(block))
    assert [(r.name, r.passed, r.problem) for r in results] == [
        ("the warehouse's answer is checked and announced", True, ""),
        ("another prefix reaches another subject", True, ""),
    ]
