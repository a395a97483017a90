"""Compiling steps: the step-type protocol, the compile context, and step lists → step nodes.

A step type is any object with a ``name`` and ``compile(config, ctx) -> Step``; a ``Step`` has
``async run(documents, ctx) -> documents``. Compile reports problems through ``ctx.issue`` and
keeps going, so one deploy lists every issue of a package.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .context import Step, StepNode
from .durations import parse_duration
from .errors import Issue
from .expressions import JqCompileError, JqProgram

#: Keys a step may carry besides its one step-type key.
STEP_META_KEYS = ("name", "id")


class StepType(Protocol):
    """What the ``flowhost.steps`` entry-point group resolves to."""

    @property
    def name(self) -> str: ...

    def compile(self, config: Any, ctx: CompileContext) -> Step: ...


@dataclass(frozen=True)
class StepTypeDef:
    """A convenient StepType: a name and a compile function."""

    name: str
    compile: Callable[[Any, CompileContext], Step]


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class CompileContext:
    """Handed to ``StepType.compile``: where the step's config sits, and compile helpers.

    ``path`` is the config's path: the step's own path when the config is a mapping
    (``processes.p.steps[1]``), the step path plus the type key otherwise
    (``processes.p.steps[2].map``). Sub-keys join onto it (``processes.p.steps[1].then[0]``).
    """

    def __init__(
        self,
        path: str,
        issues: list[Issue],
        step_types: Mapping[str, StepType],
        process_names: Collection[str],
    ):
        self.path = path
        self.issues = issues
        self.step_types = step_types
        self.process_names = process_names

    def at(self, key: str | int | None) -> str:
        return self.path if key is None else join_path(self.path, key)

    def sub(self, key: str | int) -> CompileContext:
        return CompileContext(self.at(key), self.issues, self.step_types, self.process_names)

    def issue(self, message: str, at: str | int | None = None) -> None:
        self.issues.append(Issue(self.at(at), message))

    def jq(self, text: Any, at: str | int | None = None) -> JqProgram:
        """Compile a jq program; on failure record the issue and return a stand-in.

        YAML numbers and booleans are accepted as the jq literals they spell (``page: 1``).
        """
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, int | float):
            text = repr(text)
        try:
            return JqProgram(text)
        except JqCompileError as error:
            self.issue(f"jq compile error: {error}", at)
            return JqProgram(".")

    def duration(self, value: Any, at: str | int | None, default: float) -> float:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as error:
            self.issue(str(error), at)
            return default

    def integer(self, value: Any, at: str | int | None, default: int, minimum: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.issue(f"expected an integer >= {minimum}, got {value!r}", at)
            return default
        return value

    def options(
        self,
        config: Any,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
        allow_null: bool = False,
    ) -> dict[str, Any]:
        """Check that ``config`` is a mapping with known keys; return it ({} when unusable)."""
        if config is None and allow_null and not required:
            return {}
        if not isinstance(config, dict):
            self.issue(f"expected a mapping, got {describe(config)}")
            return {}
        known = [*required, *optional]
        for key in config:
            if key not in known:
                self.issue(unknown_key_message(key, known), at=str(key))
        for key in required:
            if key not in config:
                self.issue(f"missing required key '{key}'")
        return config

    def steps(self, raw: Any, at: str | int | None) -> list[StepNode]:
        """Compile a nested list of steps found at ``at``."""
        return compile_steps(raw, self.at(at), self.issues, self.step_types, self.process_names)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}") + f" ({value!r})"[:60]


def unknown_key_message(key: Any, known: Collection[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}'{hint}"


def compile_steps(
    raw: Any,
    path: str,
    issues: list[Issue],
    step_types: Mapping[str, StepType],
    process_names: Collection[str],
) -> list[StepNode]:
    """Compile a list of steps at ``path``; issues are appended, never raised."""
    if not isinstance(raw, list):
        issues.append(Issue(path, f"expected a list of steps, got {describe(raw)}"))
        return []
    nodes = []
    for index, item in enumerate(raw):
        node = _compile_step(item, join_path(path, index), issues, step_types, process_names)
        if node is not None:
            nodes.append(node)
    return nodes


def _compile_step(
    item: Any,
    path: str,
    issues: list[Issue],
    step_types: Mapping[str, StepType],
    process_names: Collection[str],
) -> StepNode | None:
    if not isinstance(item, dict):
        issues.append(Issue(path, f"a step is a mapping with one step type, got {describe(item)}"))
        return None
    type_keys = [key for key in item if key not in STEP_META_KEYS]
    name = item.get("name", "")
    for meta in STEP_META_KEYS:
        if meta in item and not isinstance(item[meta], str):
            issues.append(Issue(f"{path}.{meta}", f"expected a string, got {describe(item[meta])}"))
    if not type_keys:
        issues.append(Issue(path, f"a step needs a step type, one of: {', '.join(step_types)}"))
        return None
    if len(type_keys) > 1:
        found = ", ".join(f"'{key}'" for key in type_keys)
        issues.append(Issue(path, f"a step has exactly one step type, found {found}"))
        return None
    type_name = str(type_keys[0])
    step_type = step_types.get(type_name)
    if step_type is None:
        close = difflib.get_close_matches(type_name, list(step_types), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        issues.append(Issue(path, f"unknown step type '{type_name}'{hint}"))
        return None
    config = item[type_name]
    config_path = path if isinstance(config, dict) else f"{path}.{type_name}"
    ctx = CompileContext(config_path, issues, step_types, process_names)
    try:
        step = step_type.compile(config, ctx)
    except Exception as error:  # a third-party step type's bug must not hide other issues
        issues.append(Issue(config_path, f"step type '{type_name}' failed to compile: {error}"))
        return None
    return StepNode(path, type_name, name if isinstance(name, str) else "", step)
