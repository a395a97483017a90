"""Small builders for runtime tests."""

from __future__ import annotations

import textwrap


def package(processes: str, *, service: str = "{path: t}") -> str:
    """A package text around ``processes`` (YAML for the `processes:` mapping, any indent)."""
    body = textwrap.indent(textwrap.dedent(processes).strip("\n"), "  ")
    return f"name: t\nversion: '1'\nservice: {service}\nprocesses:\n{body}\n"


def process(steps: str, *, name: str = "p", extra: str = "") -> str:
    """A package with one process ``name`` whose steps are ``steps`` (a YAML list)."""
    body = textwrap.indent(textwrap.dedent(steps).strip("\n"), "    ")
    return package(f"{name}:\n  steps:\n{body}\n{textwrap.dedent(extra)}")
