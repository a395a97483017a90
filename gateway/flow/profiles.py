"""JSON Schema profiles compiled into shapes: what Flow sees of a profile.

A profile is a JSON Schema whose root is an object. Its properties are scalars (string, number,
integer, boolean, string with ``format: date-time``), nested objects, or arrays of objects (Flow
lists hold objects). Compiling walks the schema once, at deploy, into a tree of `ObjectShape` /
`FieldShape`; `gateway.flow.values` builds converters from the tree and `gateway.flow.describe`
builds Flow types from it, so both agree on every type name.

Type names follow Boomi's Flow Services Server: an object or array entry ``lines`` of the request
profile of action ``quote`` is the type ``quote REQUEST - lines`` (``RESPONSE`` for the response
profile); deeper nesting appends `` - <entry>`` per level (``quote RESPONSE - lines - product``).
A data action's profile is the type named by the data action; its nested entries are
``<Type> - <entry>``. An array entry names the type of its items. An object that came from a
``$ref`` is named after what it references, wherever it is used: ``Address`` for the profile
``Address``, ``Order - Address`` for ``Order``'s ``#/$defs/Address``; so it is one Flow type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# kind -> Flow content type
CONTENT_TYPES: dict[str, str] = {
    "string": "ContentString",
    "number": "ContentNumber",
    "integer": "ContentNumber",
    "boolean": "ContentBoolean",
    "datetime": "ContentDateTime",
    "object": "ContentObject",
    "list": "ContentList",
}
#: Set by the executor on an object schema it inlined from a ``$ref`` (executors/runtime/
#: profile_refs.py): the stable name of its Flow type.
TYPE_MARK = "x-flowhost-type"
SCALAR_KINDS = frozenset({"string", "number", "integer", "boolean", "datetime"})


class ProfileError(ValueError):
    """A profile Flow cannot represent; `path` points into the schema (``properties.lines``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"profile {path or '(root)'}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FieldShape:
    """One property of an object: a Flow value (top level) or a type property (nested)."""

    name: str
    kind: str  # string | number | integer | boolean | datetime | object | list
    required: bool
    schema_type: str  # the JSON Schema type as written: string, number, …, date-time, array
    obj: ObjectShape | None = None  # object fields and list items

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def type_name(self) -> str | None:
        return self.obj.type_name if self.obj is not None else None


@dataclass(frozen=True, slots=True)
class ObjectShape:
    """An object: a Flow type when `type_name` is set; an action's root (its values) when not."""

    type_name: str | None
    fields: tuple[FieldShape, ...]
    summary: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def action_shape(
    action_name: str, direction: str, profile: Mapping[str, Any] | None
) -> ObjectShape:
    """The root of a message action's request (`direction` "REQUEST") or response profile."""
    return _object(profile, None, f"{action_name} {direction}", "")


def type_shape(type_name: str, profile: Mapping[str, Any] | None) -> ObjectShape:
    """A profile that is itself one Flow type (data actions)."""
    return _object(profile, type_name, type_name, "")


def nested_types(shape: ObjectShape) -> Iterator[ObjectShape]:
    """Every named object shape in the tree, parents before children, in profile order."""
    if shape.type_name is not None:
        yield shape
    for f in shape.fields:
        if f.obj is not None:
            yield from nested_types(f.obj)


def _object(
    schema: Mapping[str, Any] | None, type_name: str | None, prefix: str, path: str
) -> ObjectShape:
    if not schema:
        return ObjectShape(type_name, (), "")
    if not isinstance(schema, Mapping):
        raise ProfileError(path, "expected a JSON Schema object")
    if "$ref" in schema:
        raise ProfileError(path, "an unresolved $ref (deploy resolves them)")
    if _type_of(schema, path) != "object":
        raise ProfileError(path, "expected type: object")
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    fields = tuple(
        _field(name, sub, name in required, prefix, f"{path}.properties.{name}".lstrip("."))
        for name, sub in props.items()
    )
    summary = str(schema.get("description") or schema.get("title") or "")
    return ObjectShape(type_name, fields, summary)


def _field(name: str, schema: Any, required: bool, prefix: str, path: str) -> FieldShape:
    if not isinstance(schema, Mapping):
        raise ProfileError(path, "expected a JSON Schema object")
    if "$ref" in schema:
        raise ProfileError(path, "an unresolved $ref (deploy resolves them)")
    t = _type_of(schema, path)
    child = _named(schema, f"{prefix} - {name}")
    if t == "object":
        return FieldShape(name, "object", required, t, _object(schema, child, child, path))
    if t == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping) or _type_of(items, path + ".items") != "object":
            raise ProfileError(path, "Flow lists hold objects: items must be type: object")
        child = _named(items, child)
        return FieldShape(name, "list", required, t, _object(items, child, child, path + ".items"))
    if t == "string" and schema.get("format") == "date-time":
        return FieldShape(name, "datetime", required, "date-time")
    if t in SCALAR_KINDS:
        return FieldShape(name, t, required, t)
    raise ProfileError(path, f"unsupported type {t!r}")


def _named(schema: Mapping[str, Any], default: str) -> str:
    """The type name of a referenced schema (one type wherever it is used), else ``default``."""
    mark = schema.get(TYPE_MARK)
    return mark if isinstance(mark, str) and mark else default


def _type_of(schema: Mapping[str, Any], path: str) -> str:
    t = schema.get("type")
    if isinstance(t, list):  # ["string", "null"]: nullability is implicit in Flow
        non_null = [x for x in t if x != "null"]
        if len(non_null) != 1:
            raise ProfileError(path, f"ambiguous type {t!r}")
        t = non_null[0]
    if t is None:  # untyped: infer from the keywords present
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"
    if not isinstance(t, str):
        raise ProfileError(path, f"unsupported type {t!r}")
    return t
