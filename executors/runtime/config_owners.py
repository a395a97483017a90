"""Who may set each configuration value: the operator only, or Flow as well.

A package says so per value (`set_by: operator | flow`). When it does not, a value is the
operator's if it is a `password`, or if a step uses it where it chooses what the process touches
on the host: a `file` step's folder, a `db` step's URL, an `http` step's URL, a value a `flow`
step names for its base URL, tenant or credentials, the broker a `publish` or `request` step
names and the `{name}` placeholders of its destination pattern. Everything else stays settable
from Flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .brokers.destinations import config_placeholders

OPERATOR = "operator"
FLOW = "flow"
SET_BY = (OPERATOR, FLOW)

#: The fields of built-in steps that name a folder, a database or a host.
HOST_FIELDS: dict[str, tuple[str, ...]] = {
    "file": ("folder",),
    "db": ("url",),
    "http": ("url",),
}
#: Broker steps: the field naming the configuration value that holds the broker's URL, and the
#: destination patterns whose `{name}` placeholders are configuration values.
BROKER_STEPS = ("publish", "request")
BROKER_FIELD = "broker"
DESTINATION_FIELDS = ("subject", "queue", "topic")

#: The fields of built-in steps whose value is a configuration value's name (not jq).
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "flow": ("base_url", "tenant", "token", "username", "password"),
    **{step: (BROKER_FIELD,) for step in BROKER_STEPS},
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
        if step_type in BROKER_STEPS:
            for key in DESTINATION_FIELDS:
                pattern = options.get(key)
                if isinstance(pattern, str):
                    names |= config_placeholders(pattern)
    return names


def broker_references(processes: dict[str, list[Any]]) -> Iterator[tuple[str, str]]:
    """(path, name) of every configuration name a broker step reads: its `broker` and the
    `{name}` placeholders of its destination (a package must declare them)."""
    for process, steps in processes.items():
        yield from _broker_references(steps, f"processes.{process}.steps")


def _broker_references(value: Any, path: str, step: bool = False) -> Iterator[tuple[str, str]]:
    """``step``: ``value`` is a step, whose type's mapping has the step's own path (compile.py)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _broker_references(item, f"{path}[{index}]", step=True)
    elif isinstance(value, dict):
        for key, inner in value.items():
            if step and key in BROKER_STEPS and isinstance(inner, dict):
                broker = inner.get(BROKER_FIELD)
                if isinstance(broker, str) and broker.isidentifier():  # else: a compile issue
                    yield f"{path}.{BROKER_FIELD}", broker
                for field in DESTINATION_FIELDS:
                    pattern = inner.get(field)
                    if isinstance(pattern, str):
                        for name in sorted(config_placeholders(pattern)):
                            yield f"{path}.{field}", name
            elif step and isinstance(inner, dict):
                yield from _broker_references(inner, path)
            elif isinstance(inner, list | dict):
                yield from _broker_references(inner, f"{path}.{key}")


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
