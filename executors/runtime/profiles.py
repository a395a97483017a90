"""Profiles: JSON Schemas that shape documents and from which Flow types are generated."""

from __future__ import annotations

from typing import Any

from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators as jsonschema_validators

from .compile import describe
from .errors import Issue


def profile_issues(schema: Any, path: str) -> list[Issue]:
    """Problems with one profile: not a JSON Schema, root not an object, non-object list items.

    An issue at ``path`` itself means the schema is unusable.
    """
    if not isinstance(schema, dict):
        return [Issue(path, f"expected a JSON Schema (a mapping), got {describe(schema)}")]
    validator = jsonschema_validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except jsonschema_exceptions.SchemaError as error:
        where = "".join(f"[{part!r}]" for part in error.path)
        return [Issue(path, f"not a valid JSON Schema: {error.message}{where and ' at ' + where}")]
    issues = []
    if schema.get("type") != "object":
        issues.append(Issue(f"{path}.type", "a profile's root must be type: object"))
    _object_items(schema, path, issues)
    return issues


def _object_items(schema: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """Flow lists hold objects: every array in a profile must have object items."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        here = f"{path}.properties.{name}"
        if sub.get("type") == "array":
            items = sub.get("items")
            if not isinstance(items, dict) or items.get("type") != "object":
                message = "array items must be type: object (Flow lists hold objects)"
                issues.append(Issue(f"{here}.items", message))
                continue
            _object_items(items, f"{here}.items", issues)
        elif sub.get("type") == "object":
            _object_items(sub, here, issues)
