"""YAML loading for packages: safe, strict about duplicates, no surprise types.

PyYAML's safe loader follows YAML 1.1, where ``no`` is false and ``2024-01-01`` is a date. In a
package both are strings: only ``true``/``false`` are booleans and dates stay text, so a profile
``const`` or a route key means what it says. Duplicate keys are errors, not silent overwrites.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import Issue, PackageInvalid


class _PackageLoader(yaml.SafeLoader):
    pass


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


def load_yaml(source: str) -> Any:
    """Parse one YAML document; raise PackageInvalid with path ``<yaml>`` and line/column."""
    try:
        return yaml.load(source, Loader=_PackageLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "malformed YAML"
        raise PackageInvalid([Issue("<yaml>", f"{where}{problem}")]) from None
    except yaml.YAMLError as error:
        raise PackageInvalid([Issue("<yaml>", str(error))]) from None
