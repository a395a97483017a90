"""Documents parse and encode lazily and keep the bytes they were built from."""

from __future__ import annotations

import orjson
import pytest

from executors.runtime import Document


def test_from_bytes_keeps_the_bytes_and_parses_on_demand() -> None:
    raw = b'{"a":  1}'
    document = Document.from_bytes(raw, {"k": "v"})
    assert document.raw == raw
    assert document.value == {"a": 1}
    assert document.raw == raw  # still the original bytes, not re-encoded
    assert document.properties == {"k": "v"}


def test_from_value_encodes_with_orjson_once() -> None:
    value = {"b": [1, 2.5, None, "é"]}
    document = Document.from_value(value)
    assert document.raw == orjson.dumps(value)
    assert document.raw is document.raw
    assert document.properties == {}


def test_setting_the_value_drops_the_cached_bytes() -> None:
    document = Document.from_bytes(b"[1]")
    document.value = [2]
    assert document.raw == b"[2]"


def test_copies_share_data_not_properties() -> None:
    document = Document.from_bytes(b'{"a":1}', {"k": "v"})
    other = document.with_properties({"x": "y"})
    assert other.raw is document.raw and document.properties == {"k": "v"}
    changed = document.with_value({"a": 2})
    assert changed.properties == {"k": "v"} and changed.properties is not document.properties
    assert changed.value == {"a": 2}


def test_bad_json_fails_when_read() -> None:
    document = Document.from_bytes(b"{nope")
    with pytest.raises(orjson.JSONDecodeError):
        _ = document.value


def test_equality_and_repr() -> None:
    assert Document.from_bytes(b'{"a": 1}') == Document.from_value({"a": 1})
    assert Document.from_value(1, {"k": "v"}) != Document.from_value(1)
    assert "properties={'k': 'v'}" in repr(Document.from_value("x" * 200, {"k": "v"}))


def test_integers_beyond_64_bits_are_written_as_doubles() -> None:
    document = Document.from_value({"a": 10**20, "b": [-(10**19)], "c": 2**63, "d": True})
    assert orjson.loads(document.raw) == {"a": 1e20, "b": [-1e19], "c": 2**63, "d": True}
