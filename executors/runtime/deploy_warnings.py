"""Deploy warnings: a valid package that probably does not do what its author meant.

Never a refusal (the package runs as written); the deploy answer lists them and `flowhost deploy`
prints them, `--strict` refuses them. Each names where it is:

- a message action's process with no ``return`` step: it answers ``outputs: null`` and no
  outcome, whatever it computes (a ``return`` in a process it ``call``s returns to the call);
- an outcome a ``return`` may give (a string literal of its ``outcome`` expression) that the
  action does not list in ``outcomes``: found otherwise only when it fails at run time;
- a profile no action, data action or other profile uses, and a process nothing runs or calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .compile import join_path
from .errors import Issue
from .package import Package
from .profile_refs import TYPE_MARK

#: A jq string literal without interpolation: what an outcome expression may give...
_STRING_LITERAL = re.compile(r'"((?:[^"\\(]|\\[^(])*)"')
#: ...unless it is compared (``.id == "2"``), a key (``{"a": 1}``) or an argument (``test("x")``):
#: a heuristic, not a jq parser, so it errs on the side of no warning.
_NOT_A_RESULT = re.compile(
    r'(?:==|!=|<=|>=|<|>|\()\s*"(?:[^"\\]|\\.)*"|"(?:[^"\\]|\\.)*"\s*(?:==|!=|<=|>=|<|>|:)'
)


def package_warnings(package: Package) -> list[Issue]:
    return [*_returns(package), *_unused_profiles(package), *_unused_processes(package)]


def _returns(package: Package) -> Iterator[Issue]:
    for index, action in enumerate(package.service.actions):
        process = package.processes.get(action.process)
        if process is None:
            continue
        steps_path = f"processes.{process.name}.steps"
        returns = list(_steps_with(process.steps, "return", steps_path))
        if not returns:
            yield Issue(
                f"service.actions[{index}]",
                f"process '{process.name}' has no return step: action '{action.name}' "
                "answers no outputs and no outcome",
            )
            continue
        for path, config in returns:
            outcome = config.get("outcome") if isinstance(config, dict) else None
            if not isinstance(outcome, str):
                continue
            for literal in _STRING_LITERAL.findall(_NOT_A_RESULT.sub(" ", outcome)):
                if literal not in action.outcomes:
                    listed = ", ".join(action.outcomes) or "none"
                    yield Issue(
                        f"{path}.return.outcome",
                        f"outcome '{literal}' is not one of action '{action.name}''s "
                        f"outcomes ({listed})",
                    )


def _unused_profiles(package: Package) -> Iterator[Issue]:
    service = package.service
    used = {a.request for a in service.actions} | {a.response for a in service.actions}
    used |= {d.profile for d in service.data}
    for owner, schema in service.profiles.items():  # referenced from another profile
        used |= {mark.split(" - ", 1)[0] for mark in _marks(schema)} - {owner}
    for name in service.profiles:
        if name not in used:
            yield Issue(f"service.profiles.{name}", f"profile '{name}' is not used")


def _unused_processes(package: Package) -> Iterator[Issue]:
    service = package.service
    run = {a.process for a in service.actions}
    run |= {p for d in service.data for p in (d.load, d.save, d.delete) if p}
    run |= {p for f in service.files for p in (f.list, f.upload, f.download) if p}
    for name, process in package.processes.items():
        for _, config in _steps_with(process.steps, "call", ""):
            callee = config.get("process") if isinstance(config, dict) else config
            if isinstance(callee, str) and callee != name:
                run.add(callee)
    for name in package.processes:
        if name not in run:
            yield Issue(f"processes.{name}", f"process '{name}' is never run or called")


def _steps_with(value: Any, key: str, path: str) -> Iterator[tuple[str, Any]]:
    """(path, config) of every step in ``value`` (steps, nested anywhere) with ``key``."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _steps_with(item, key, join_path(path, index))
    elif isinstance(value, dict):
        if key in value:
            yield path, value[key]
        for name, item in value.items():
            if isinstance(item, (list, dict)):
                yield from _steps_with(item, key, join_path(path, str(name)))


def _marks(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        mark = value.get(TYPE_MARK)
        if isinstance(mark, str):
            yield mark
        for item in value.values():
            yield from _marks(item)
    elif isinstance(value, list):
        for item in value:
            yield from _marks(item)
