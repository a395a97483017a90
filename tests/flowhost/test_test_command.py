"""`flowhost test`: packages' own tests run in-process from the command line, as CI runs them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner, Result

from flowhost.cli.main import app
from flowhost.examples import FOLDER as EXAMPLES

PACKAGE = """
name: greeter
version: '1'
service:
  path: greeter
  actions: [{name: greet, process: greet}]
processes:
  greet:
    steps:
      - map: '{greeting: ("Hello, " + .name)}'
      - return: {}
tests:
  - name: greets by name
    action: greet
    input: {name: Ada}
    expect: {document: {greeting: "Hello, Ada"}}
"""

WRONG = """
  - name: expects a comma that is not there
    action: greet
    input: {name: Bob}
    expect: {document: {greeting: "Hello Bob"}}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_shipped_examples_pass() -> None:
    """What CI runs: `flowhost test --examples` (the examples carry tests of every action)."""
    result = run("test", "--examples")
    assert result.exit_code == 0, result.output
    assert "shop 1.2.0" in result.output and "countries 1.2.0" in result.output
    assert "orders 1.0.0" in result.output  # its NATS request answered by its tests
    assert "FAIL" not in result.output
    assert result.output.strip().splitlines()[-1] == "10 passed, 0 failed"


def test_a_failing_test_prints_a_diff_exits_1_and_lands_in_the_junit_report(
    tmp_path: Path,
) -> None:
    (tmp_path / "greeter.yaml").write_text(PACKAGE + WRONG)
    report = tmp_path / "report.xml"
    result = run("test", str(tmp_path), "--junit", str(report))
    assert result.exit_code == 1
    assert "PASS  greets by name" in result.output
    assert "FAIL  expects a comma that is not there" in result.output
    assert '-    "greeting": "Hello Bob"' in result.output
    assert '+    "greeting": "Hello, Bob"' in result.output
    assert result.output.strip().splitlines()[-1] == "1 passed, 1 failed"
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("greeter", "2", "1")
    cases = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert cases["greets by name"] is None
    failure = cases["expects a comma that is not there"]
    assert failure is not None and failure.get("message") == "documents differ:"
    assert '+    "greeting": "Hello, Bob"' in (failure.text or "")


def test_an_invalid_package_or_no_tests_at_all_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(PACKAGE + "  - {name: x, process: nope, expect: {documents: []}}\n")
    result = run("test", str(broken))
    assert result.exit_code == 1
    assert "tests[1].process: no process named 'nope'" in result.stderr
    untested = tmp_path / "untested.yaml"
    untested.write_text(PACKAGE.split("tests:")[0])
    result = run("test", str(untested))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "no tests found"
    assert run("test", str(tmp_path / "missing.yaml")).exit_code == 1


def test_the_examples_folder_holds_only_packages() -> None:
    """`flowhost up` deploys every *.yaml of the folder, so its tests live inside the packages."""
    assert not list(EXAMPLES.glob("*.test.yaml"))


def test_a_folder_runs_each_package_with_the_tests_beside_it(tmp_path: Path) -> None:
    (tmp_path / "greeter.yaml").write_text(PACKAGE)
    (tmp_path / "greeter.test.yaml").write_text(
        "- {name: greets Bob, action: greet, input: {name: Bob}, "
        "expect: {document: {greeting: 'Hello, Bob'}}}\n"
    )
    result = run("test", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "greeter 1" in result.output and "2 tests" in result.output
    assert "PASS  greets Bob" in result.output
    assert result.output.strip().splitlines()[-1] == "2 passed, 0 failed"
