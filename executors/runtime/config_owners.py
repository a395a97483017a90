"""Who may set each configuration value: the operator only, or Flow as well.

A package says so per value (`set_by: operator | flow`). When it does not, a value is the
operator's if it is a `password`, or if a step uses it where it chooses what the process touches
on the host: a `file` step's folder, a `db` step's URL, an `http` step's URL, or a value a `flow`
step names for its base URL, tenant or credentials. Everything else stays settable from Flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

OPERATOR = "operator"
FLOW = "flow"
SET_BY = (OPERATOR, FLOW)

#: The fields of built-in steps that name a folder, a database or a host.
HOST_FIELDS: dict[str, tuple[str, ...]] = {
    "file": ("folder",),
    "db": ("url",),
    "http": ("url",),
}

#: The fields of built-in steps whose value is a configuration value's name (not jq).
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "flow": ("base_url", "tenant", "token", "username", "password"),
}

# `$config.name` and `$config["name"]` (jq's two spellings of a field of $config).
_REFERENCE = re.compile(r"""\$config\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*"([^"]*)"\s*\])""")


def referenced_names(text: str) -> set[str]:
    """The configuration names a jq expression reads."""
    return {dotted or quoted for dotted, quoted in _REFERENCE.findall(text)}


def host_config_names(steps: Iterable[Any]) -> set[str]:
    """The configuration names used in host fields anywhere in `steps` (nested steps included)."""
    names: set[str] = set()
    for step_type, options in _steps(list(steps)):
        for key in HOST_FIELDS.get(step_type, ()):
            value = options.get(key)
            if isinstance(value, str):
                names |= referenced_names(value)
        for key in NAME_FIELDS.get(step_type, ()):
            value = options.get(key)
            if isinstance(value, str):
                names.add(value)
    return names


def _steps(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (type, options) pair in a raw step tree, however deeply nested."""
    if isinstance(value, list):
        for item in value:
            yield from _steps(item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            steps = key in HOST_FIELDS or key in NAME_FIELDS
            if isinstance(key, str) and steps and isinstance(inner, dict):
                yield key, inner
            yield from _steps(inner)


def default_set_by(kind: str, name: str, host_names: set[str]) -> str:
    """Who sets a value the package did not give a `set_by`."""
    return OPERATOR if kind == "password" or name in host_names else FLOW
