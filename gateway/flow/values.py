"""Flow values ↔ JSON documents, shaped by profiles.

Flow sends a message action's inputs as EngineValues (scalars as strings in ``contentValue``,
objects and lists as MObjects in ``objectData``); the process wants one JSON document shaped by
the action's request profile. The process answers with a document shaped by the response profile;
Flow wants EngineValues back. Everything here is pure and compiled once per profile: translators
hold per-field converter functions, so a call walks the values, never the schema.

Rules (docs/flow-types.md has the user-facing version):

* to a document: number → int when the text is integral, else float; integer → int; boolean
  "true"/"false" (any case) → bool; date-time and string → kept as text. Missing values, null
  values and empty text for non-strings are omitted; a missing required one is an error.
  Values whose name the profile does not know are ignored.
* from a document: the value's JSON type decides the text (int "3", float shortest repr with
  integral floats as "30", bool "true"/"false", null → null); the profile decides the content
  type. Objects become ContentObject with one MObject, arrays ContentList. Document keys the
  profile does not know are ignored; a key that is absent yields no output value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.flow.profiles import ObjectShape, action_shape, type_shape
from gateway.flow.scalars import (
    MISSING,
    READERS,
    FlowValueError,
    Invalid,
    Reader,
    format_scalar,
    json_kind,
)

__all__ = [
    "FlowValueError",
    "ObjectTranslator",
    "RequestTranslator",
    "ResponseTranslator",
    "compile_object",
    "compile_request",
    "compile_response",
    "document_to_object",
    "format_scalar",
    "object_to_document",
]


Writer = Callable[[Any], "list[dict[str, Any]] | None"]  # document value -> objectData


class _ObjectReader:
    """Reads a list of EngineValues / Properties into a dict, by the fields of one shape."""

    __slots__ = ("_by_name", "_required")

    def __init__(self, shape: ObjectShape) -> None:
        self._by_name: dict[str, tuple[str, Reader]] = {}
        for f in shape.fields:
            if f.obj is None:
                reader = READERS[f.kind]
            elif f.kind == "object":
                reader = _object_reader(_ObjectReader(f.obj))
            else:
                reader = _list_reader(_ObjectReader(f.obj))
            self._by_name[f.name] = (f.name, reader)
        self._required = shape.required

    def read(self, values: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if values:
            by_name = self._by_name
            try:
                for v in values:
                    entry = by_name.get(v.get("developerName"))
                    if entry is None:
                        continue
                    name, reader = entry
                    try:
                        value = reader(v)
                    except Invalid as e:
                        e.segments.append(name)
                        raise
                    if value is not MISSING:
                        doc[name] = value
            except (AttributeError, TypeError) as e:  # a value that is not a JSON object
                raise Invalid("expected a list of Flow values") from e
        for name in self._required:
            if name not in doc:
                raise Invalid(None, name)
        return doc


def _object_data(v: Mapping[str, Any], content_type: str) -> list[Any] | None:
    od = v.get("objectData")
    if od is None:
        cv = v.get("contentValue")
        if cv is not None and cv != "":
            raise Invalid(f"expected {content_type} with objectData")
        return None
    if type(od) is not list:
        raise Invalid(f"expected {content_type} with objectData")
    return od


def _object_reader(inner: _ObjectReader) -> Reader:
    read = inner.read

    def read_object(v: Mapping[str, Any]) -> Any:
        od = _object_data(v, "ContentObject")
        if not od:
            return MISSING
        obj = od[0]
        if type(obj) is not dict:
            raise Invalid("expected ContentObject with objectData")
        return read(obj.get("properties"))

    return read_object


def _list_reader(inner: _ObjectReader) -> Reader:
    read = inner.read

    def read_list(v: Mapping[str, Any]) -> Any:
        od = _object_data(v, "ContentList")
        if od is None:
            return MISSING
        out = []
        for i, obj in enumerate(od):
            if type(obj) is not dict:
                raise Invalid("expected ContentList with objectData", f"[{i}]")
            try:
                out.append(read(obj.get("properties")))
            except Invalid as e:
                e.segments.append(f"[{i}]")
                raise
        return out

    return read_list


def _mobject(type_name: str | None, order: int, props: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "internalId": None,
        "externalId": None,
        "developerName": type_name,
        "typeElementId": None,
        "order": order,
        "isSelected": False,
        "properties": props,
    }


class _ObjectWriter:
    """Writes one dict as the Properties of an MObject, by the fields of one shape."""

    __slots__ = ("_fields", "type_name")

    def __init__(self, shape: ObjectShape) -> None:
        self.type_name = shape.type_name
        self._fields: tuple[tuple[str, str, Writer | None], ...] = tuple(
            (f.name, f.content_type, _writer(f.kind, f.obj)) for f in shape.fields
        )

    def properties(self, doc: Any) -> list[dict[str, Any]]:
        if type(doc) is not dict:
            raise Invalid(f"expected an object, got {json_kind(doc)}")
        props: list[dict[str, Any]] = []
        append = props.append
        get = doc.get
        for name, content_type, write in self._fields:
            value = get(name)
            try:
                if write is None:
                    append(
                        {
                            "typeElementPropertyId": None,
                            "developerName": name,
                            "contentType": content_type,
                            "contentValue": format_scalar(value),
                            "contentFormat": None,
                            "objectData": None,
                        }
                    )
                else:
                    append(
                        {
                            "typeElementPropertyId": None,
                            "developerName": name,
                            "contentType": content_type,
                            "contentValue": None,
                            "contentFormat": None,
                            "objectData": None if value is None else write(value),
                        }
                    )
            except Invalid as e:
                e.segments.append(name)
                raise
        return props

    def mobject(self, doc: Any, order: int, external_id: str | None = None) -> dict[str, Any]:
        m = _mobject(self.type_name, order, self.properties(doc))
        m["externalId"] = external_id
        return m


def _writer(kind: str, shape: ObjectShape | None) -> Writer | None:
    if shape is None:
        return None
    w = _ObjectWriter(shape)
    props, type_name = w.properties, w.type_name
    if kind == "object":

        def write_object(value: Any) -> list[dict[str, Any]]:
            return [_mobject(type_name, 0, props(value))]

        return write_object

    def write_list(value: Any) -> list[dict[str, Any]]:
        if type(value) is not list:
            raise Invalid(f"expected an array of objects, got {json_kind(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_mobject(type_name, i, props(item)))
            except Invalid as e:
                e.segments.append(f"[{i}]")
                raise
        return out

    return write_list


# --- public translators ----------------------------------------------------------------------


class RequestTranslator:
    """A ServiceRequest's ``inputs`` → the request profile's JSON document."""

    __slots__ = ("_reader", "action_name", "shape")

    def __init__(self, action_name: str, shape: ObjectShape) -> None:
        self.action_name = action_name
        self.shape = shape
        self._reader = _ObjectReader(shape)

    def to_document(self, inputs: list[dict[str, Any]] | None) -> dict[str, Any]:
        """Raises FlowValueError naming the offending input."""
        try:
            return self._reader.read(inputs)
        except Invalid as e:
            raise e.to_error("input") from None


class ResponseTranslator:
    """The process's returned JSON document → ServiceResponse ``outputs`` (EngineValues)."""

    __slots__ = ("_fields", "action_name", "shape")

    def __init__(self, action_name: str, shape: ObjectShape) -> None:
        self.action_name = action_name
        self.shape = shape
        # the fast path: one flat tuple per output, nothing looked up per call
        self._fields: tuple[tuple[str, str, str | None, Writer | None], ...] = tuple(
            (f.name, f.content_type, f.type_name, _writer(f.kind, f.obj)) for f in shape.fields
        )

    def to_outputs(self, document: Any) -> list[dict[str, Any]]:
        """Raises FlowValueError (side "output") when the document does not fit the profile."""
        if document is None:
            return []  # a process that returned nothing
        if type(document) is not dict:
            raise FlowValueError("output", "", f"expected a JSON object, got {json_kind(document)}")
        outputs: list[dict[str, Any]] = []
        append = outputs.append
        for name, content_type, type_name, write in self._fields:
            if name not in document:
                continue
            value = document[name]
            try:
                append(
                    {
                        "valueElementId": None,
                        "typeElementId": None,
                        "typeElementPropertyId": None,
                        "developerName": name,
                        "typeElementDeveloperName": type_name,
                        "typeElementPropertyDeveloperName": None,
                        "contentValue": format_scalar(value) if write is None else None,
                        "contentType": content_type,
                        "objectData": None if write is None or value is None else write(value),
                    }
                )
            except Invalid as e:
                e.segments.append(name)
                raise e.to_error("output") from None
        return outputs


class ObjectTranslator:
    """One Flow type (a data action's profile) ↔ one JSON document."""

    __slots__ = ("_reader", "_writer", "shape", "type_name")

    def __init__(self, shape: ObjectShape) -> None:
        self.shape = shape
        self.type_name = shape.type_name
        self._reader = _ObjectReader(shape)
        self._writer = _ObjectWriter(shape)

    def to_document(self, mobject: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._reader.read(mobject.get("properties"))
        except Invalid as e:
            raise e.to_error("property") from None

    def to_object(
        self, document: Any, external_id: str | None = None, order: int = 0
    ) -> dict[str, Any]:
        try:
            return self._writer.mobject(document, order, external_id)
        except Invalid as e:
            raise e.to_error("property") from None


def compile_request(action_name: str, profile: Mapping[str, Any] | None) -> RequestTranslator:
    """Compile once per action (at deploy); raises ProfileError for a profile Flow can't hold."""
    return RequestTranslator(action_name, action_shape(action_name, "REQUEST", profile))


def compile_response(action_name: str, profile: Mapping[str, Any] | None) -> ResponseTranslator:
    """Compile once per action (at deploy); raises ProfileError for a profile Flow can't hold."""
    return ResponseTranslator(action_name, action_shape(action_name, "RESPONSE", profile))


def compile_object(profile: Mapping[str, Any] | None, type_name: str) -> ObjectTranslator:
    """Compile a data action's type once; nested entries are the types ``<type_name> - <entry>``."""
    return ObjectTranslator(type_shape(type_name, profile))


def object_to_document(
    mobject: Mapping[str, Any], profile: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One-off form of `ObjectTranslator.to_document` (compiles; hot paths use compile_object)."""
    name = mobject.get("developerName")
    return compile_object(profile, name if isinstance(name, str) else "").to_document(mobject)


def document_to_object(
    document: Any,
    profile: Mapping[str, Any] | None,
    type_name: str,
    external_id: str | None,
) -> dict[str, Any]:
    """One-off form of `ObjectTranslator.to_object` (compiles; hot paths use compile_object)."""
    return compile_object(profile, type_name).to_object(document, external_id)
