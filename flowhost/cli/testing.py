"""`flowhost test PATH...`: run packages' own tests in-process, as CI and `deploy --test` do.

No cluster is needed: the tests run the executor's step engine in this process
(executors/package_test_runner.py). Each test prints PASS or FAIL with why (a unified diff when
documents differ); `--junit` writes a JUnit XML report for CI; the exit code is 1 when a test
fails, a package is invalid, or no test was found.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from flowhost.cli.shared import console, errors, fail
from flowhost.examples import FOLDER as EXAMPLES

if TYPE_CHECKING:
    from executors.package_test_runner import Verdict

PACKAGE_SUFFIXES = (".yaml", ".yml")


def package_files(paths: Iterable[Path]) -> list[Path]:
    """The package files named: files as given, folders' ``*.yaml`` (not the test sidecars)."""
    from executors.package_test_runner import SIDECAR_SUFFIX

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.iterdir()
                if p.suffix in PACKAGE_SUFFIXES and not p.name.endswith(SIDECAR_SUFFIX)
            )
        elif path.is_file():
            found.append(path)
        else:
            fail(f"no package at {path}")
    return found


def run_package_tests(files: list[Path], timeout_s: float | None = None) -> list[Verdict]:
    """Run and print the tests of every package in ``files``; exit 1 on an invalid package."""
    # The step engine is imported when tests run, not by every `flowhost` command.
    from executors.package_test_runner import load_tested_package, run_tests
    from executors.runtime import PackageInvalid

    results: list[Verdict] = []
    for path in files:
        try:
            package = load_tested_package(path)
        except PackageInvalid as invalid:
            errors.print(f"[red]error:[/red] {path} is invalid:", highlight=False)
            for issue in invalid.issues:
                errors.print(f"  {issue}", highlight=False, markup=False)
            raise typer.Exit(1) from None
        except (OSError, UnicodeDecodeError) as error:
            fail(f"cannot read {path}: {error}")
        console.print(
            f"{package.name} {package.version} ({path}): {len(package.tests)} tests",
            highlight=False,
            markup=False,
        )
        running = run_tests(package) if timeout_s is None else run_tests(package, timeout_s)
        for result in asyncio.run(running):
            word = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            console.print(f"  {word}  {escape(result.name)} ({result.duration_s:.2f} s)")
            for line in result.problem.splitlines():
                console.print(f"        {line}", highlight=False, markup=False)
            results.append(result)
    return results


def summary(results: list[Verdict]) -> tuple[str, bool]:
    """The closing line, and whether everything passed (no test at all does not)."""
    failed = sum(not result.passed for result in results)
    if not results:
        return "no tests found", False
    return f"{len(results) - failed} passed, {failed} failed", failed == 0


def write_junit(results: list[Verdict], target: Path) -> None:
    """A JUnit XML report: one testsuite per package, one testcase per test."""
    suites = ET.Element("testsuites", name="flowhost test")
    by_package: dict[str, list[Verdict]] = {}
    for result in results:
        by_package.setdefault(result.package, []).append(result)
    for package, cases in by_package.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=package,
            tests=str(len(cases)),
            failures=str(sum(not case.passed for case in cases)),
            errors="0",
            time=f"{sum(case.duration_s for case in cases):.3f}",
        )
        for case in cases:
            element = ET.SubElement(
                suite, "testcase", classname=package, name=case.name, time=f"{case.duration_s:.3f}"
            )
            if not case.passed:
                failure = ET.SubElement(
                    element, "failure", message=case.problem.splitlines()[0][:500]
                )
                failure.text = case.problem
    ET.ElementTree(suites).write(target, encoding="utf-8", xml_declaration=True)


def test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Package files or folders of packages (default with --examples)."),
    ] = None,
    examples: Annotated[
        bool, typer.Option("--examples", help="Also test the example packages flowhost ships.")
    ] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report to this file.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Seconds each test may run at most (default 60; its process's timeout if "
            "shorter).",
        ),
    ] = None,
) -> None:
    """Run packages' tests (`tests:` and `<name>.test.yaml`) in-process, without a cluster."""
    named = list(paths or ())
    if examples:
        named.append(EXAMPLES)
    if not named:
        fail("name package files or folders to test, or --examples")
    results = run_package_tests(package_files(named), timeout)
    if junit is not None:
        write_junit(results, junit)
    line, passed = summary(results)
    console.print(line, highlight=False)
    if not passed:
        raise typer.Exit(1)
