"""YAML loading for packages: safe, strict about duplicates, no surprise types.

PyYAML's safe loader follows YAML 1.1, where ``no`` is false and ``2024-01-01`` is a date. In a
package both are strings: only ``true``/``false`` are booleans and dates stay text, so a profile
``const`` or a route key means what it says. Duplicate keys are errors, not silent overwrites.

Nesting depth, aliases and the size of the document with its aliases expanded are bounded while
composing (`YamlLimits`), before anything is built: a few hundred bytes of nested aliases (an
"alias bomb") or a 100,000-deep nesting are refused with an issue instead of costing gigabytes or
a RecursionError. The gateway checks the same limits before a package reaches an executor; this
is the executor's own line of defence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import Issue, PackageInvalid


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Bounds of one package document, checked while composing it."""

    max_depth: int = 64  # nested mappings/sequences, aliases expanded
    max_aliases: int = 100  # `*name` references
    max_nodes: int = 250_000  # values, with every alias counted as what it repeats


class _Too(yaml.composer.ComposerError):
    pass


class _PackageLoader(yaml.SafeLoader):
    limits = YamlLimits()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0
        # anchor -> (values it stands for, its height); missing while it is being composed
        self._measures: dict[str, tuple[int, int]] = {}
        self._heights = [0]

    def _refuse(self, message: str, event: Any) -> None:
        raise _Too(None, None, message, event.start_mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        limits = self.limits
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > limits.max_aliases:
                self._refuse(
                    f"more than {limits.max_aliases} aliases (executor limit package_max_aliases)",
                    event,
                )
            anchor = event.anchor or ""
            if anchor in self.anchors and anchor not in self._measures:
                self._refuse(f"alias *{anchor} refers to a value that contains it", event)
            nodes, height = self._measures.get(anchor, (1, 1))
            self._count(nodes, height, event)
            self._heights[-1] = max(self._heights[-1], height)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        self._count(1, 1, event)
        self._depth += 1
        self._heights.append(0)
        before = self._nodes
        try:
            node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1
            height = self._heights.pop() + 1
            self._heights[-1] = max(self._heights[-1], height)
        if event.anchor:
            self._measures[event.anchor] = (self._nodes - before + 1, height)
        return node

    def _count(self, nodes: int, height: int, event: Any) -> None:
        limits = self.limits
        self._nodes += nodes
        if self._nodes > limits.max_nodes:
            self._refuse(
                f"more than {limits.max_nodes} values with aliases expanded "
                "(executor limit package_max_nodes)",
                event,
            )
        if self._depth + height > limits.max_depth:
            self._refuse(
                f"nested deeper than {limits.max_depth} levels (executor limit package_max_depth)",
                event,
            )


# Copy the resolver table so the change stays on our loader, then keep YAML 1.2 booleans only
# and drop timestamps.
_PackageLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PackageLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _PackageLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_PackageLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def load_yaml(source: str, limits: YamlLimits | None = None) -> Any:
    """Parse one YAML document; raise PackageInvalid with path ``<yaml>`` and line/column."""
    loader = _PackageLoader(source)
    if limits is not None:
        loader.limits = limits
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "malformed YAML"
        raise PackageInvalid([Issue("<yaml>", f"{where}{problem}")]) from None
    except yaml.YAMLError as error:
        raise PackageInvalid([Issue("<yaml>", str(error))]) from None
    except RecursionError:  # a bound above should have stopped it first; never a traceback
        raise PackageInvalid([Issue("<yaml>", "nested too deeply to read")]) from None
    finally:
        loader.dispose()
