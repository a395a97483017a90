"""The step types a package may use: the built-ins plus the ``flowhost.steps`` entry points."""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .compile import StepType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flowhost.steps"

#: Built-in step types: each module in ``steps/`` exposes ``step_type``. They are also declared
#: in the entry-point group; importing them directly keeps an uninstalled checkout working.
BUILTIN_MODULES = (
    "map",
    "set",
    "decision",
    "route",
    "branch",
    "filter",
    "split",
    "combine",
    "http",
    "trycatch",
    "fail",
    "stop",
    "returns",
    "log",
    "call",
    "sleep",
    "progress",
    "db",
    "flow_filter",
    "file",
    "flow",
)


@functools.cache
def step_types() -> Mapping[str, StepType]:
    """Every available step type by name (loaded once per process)."""
    types: dict[str, StepType] = {}
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(f"{__package__}.steps.{module_name}")
        step_type: StepType = module.step_type
        types[step_type.name] = step_type
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception:
            log.warning("step type entry point %r failed to load", entry_point.value, exc_info=True)
            continue
        name = getattr(loaded, "name", None)
        if not isinstance(name, str) or not callable(getattr(loaded, "compile", None)):
            log.warning("entry point %r is not a step type (name + compile)", entry_point.value)
            continue
        if name in types and types[name] is not loaded:
            log.warning("step type %r from %r ignored: the name is taken", name, entry_point.value)
            continue
        types[name] = loaded
    return MappingProxyType(types)
