"""Documents: JSON data plus string properties, parsed and encoded lazily."""

from __future__ import annotations

from typing import Any

import orjson

_UNSET: Any = object()


class Document:
    """One document flowing through a process.

    The data is JSON. A document built from bytes keeps those bytes and parses them only when a
    step asks for ``value``; one built from a value encodes it (orjson) only when ``raw`` is read.
    Both forms are cached. Steps never change a document they receive: they build new ones
    (``with_value``, ``with_properties``), so a document shared by two branches stays intact.
    """

    __slots__ = ("_raw", "_value", "properties")

    def __init__(self, raw: bytes | None, value: Any, properties: dict[str, str]):
        self._raw = raw
        self._value = value
        self.properties = properties

    @classmethod
    def from_bytes(cls, raw: bytes, properties: dict[str, str] | None = None) -> Document:
        """A document from JSON bytes (not parsed until ``value`` is read)."""
        return cls(bytes(raw), _UNSET, properties if properties is not None else {})

    @classmethod
    def from_value(cls, value: Any, properties: dict[str, str] | None = None) -> Document:
        """A document from a JSON-compatible Python value (not encoded until ``raw`` is read)."""
        return cls(None, value, properties if properties is not None else {})

    @property
    def value(self) -> Any:
        """The parsed JSON value (cached)."""
        if self._value is _UNSET:
            assert self._raw is not None
            self._value = orjson.loads(self._raw)
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = value
        self._raw = None

    @property
    def raw(self) -> bytes:
        """The JSON bytes (cached; the original bytes when built from bytes and unchanged)."""
        if self._raw is None:
            self._raw = encode_json(self._value)
        return self._raw

    def with_properties(self, properties: dict[str, str]) -> Document:
        """A copy sharing this document's data, with other properties."""
        return Document(self._raw, self._value, properties)

    def with_value(self, value: Any) -> Document:
        """A new document with this document's properties (copied) and another value."""
        return Document(None, value, dict(self.properties))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return self.value == other.value and self.properties == other.properties

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        data = self.raw
        shown = data if len(data) <= 80 else data[:77] + b"..."
        return f"Document({shown.decode(errors='replace')}, properties={self.properties!r})"


def encode_json(value: Any) -> bytes:
    """JSON bytes of a step's value (documents, property values, route keys)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # jq hands back integral doubles as Python ints, some beyond 64 bits, which orjson
        # refuses; they were doubles, so write them as doubles.
        return orjson.dumps(_wide_ints_as_floats(value))


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _wide_ints_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wide_ints_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return float(value)
    return value
