"""Flow scalar text ↔ JSON scalars, and the errors of value translation.

The leaves of `gateway.flow.values`: one reader per scalar kind (Flow text → JSON value) and
`format_scalar` (JSON value → Flow text). `Invalid` is raised deep inside a conversion and gains
one path segment per level while it unwinds; the translator at the top turns it into a
`FlowValueError` naming the value (``lines[0].quantity``), so the success path pays nothing for
error reporting.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MISSING",
    "NUMBER_MAX_CHARS",
    "READERS",
    "FlowValueError",
    "Invalid",
    "Reader",
    "format_scalar",
    "json_kind",
    "shown",
]


class FlowValueError(ValueError):
    """A Flow value that does not fit its profile (or a document that does not fit its profile).

    `side` is "input" or "output"; `name` the value's path (``lines[0].quantity``); `reason`
    what is wrong, or None when a required value is missing.
    """

    code: Final = "invalid_value"

    def __init__(self, side: str, name: str, reason: str | None) -> None:
        if reason is None:
            message = f"{side} '{name}' is required"
        else:
            message = f"{side} '{name}': {reason}" if name else f"{side}: {reason}"
        super().__init__(message)
        self.side = side
        self.name = name
        self.reason = reason


class Invalid(Exception):
    """Raised deep inside a conversion; each level adds its segment while unwinding."""

    def __init__(self, reason: str | None, segment: str | None = None) -> None:
        self.reason = reason
        self.segments: list[str] = [] if segment is None else [segment]

    def to_error(self, side: str) -> FlowValueError:
        name = ""
        for seg in reversed(self.segments):
            name += seg if seg.startswith("[") or not name else "." + seg
        return FlowValueError(side, name, self.reason)


MISSING: Final[Any] = object()  # a reader's answer for "leave this key out"
Reader = Callable[[Mapping[str, Any]], Any]  # EngineValue or Property -> value or MISSING

# --- Flow text -> JSON value -----------------------------------------------------------------

_BOOLS: Final = {"true": True, "false": False}


def _read_string(v: Mapping[str, Any]) -> Any:
    s = v.get("contentValue")
    if s is None:
        return MISSING
    return s if type(s) is str else format_scalar(s)


def _read_datetime(v: Mapping[str, Any]) -> Any:
    s = v.get("contentValue")
    if not s:
        return MISSING
    return s if type(s) is str else format_scalar(s)


# Integers a document may carry: the signed 64-bit range every store and JSON library of the
# path holds exactly (orjson writes at most 64 bits, SQLite and PostgreSQL BIGINT hold signed 64).
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1
# Longest Flow number text read: 64-bit integers need 20 characters, doubles need about 25 in
# shortest form; 100 leaves room for zeros and signs, and stays far below CPython's limit of
# 4300 digits for int() (past which it raises ValueError).
NUMBER_MAX_CHARS: Final = 100


_SHOWN = reprlib.Repr()  # bounded repr: long texts and big structures are elided, not walked
_SHOWN.maxstring = _SHOWN.maxother = 40
_SHOWN.maxlevel = 2


def shown(value: Any) -> str:
    """A value for an error message: its repr, cut short so a message never echoes a huge one."""
    return _SHOWN.repr(value)


def _out_of_range(text: Any) -> Invalid:
    return Invalid(
        f"{shown(text)} is outside the 64-bit integer range ({INT_MIN} to {INT_MAX}); "
        "send it as text (a string property) if it is an identifier"
    )


def _read_number(v: Mapping[str, Any]) -> Any:
    s = v.get("contentValue")
    if not s and (s is None or s == ""):
        return MISSING
    if type(s) is not str:
        if type(s) is int:
            if not INT_MIN <= s <= INT_MAX:
                raise _out_of_range(s)
            return s
        if type(s) is float:
            return s  # orjson never gives NaN or infinity
        raise Invalid(f"{shown(s)} is not a number")
    if not s.isascii():
        raise Invalid(f"{shown(s)} is not a number")
    if len(s) > NUMBER_MAX_CHARS:
        raise Invalid(f"{shown(s)} is longer than {NUMBER_MAX_CHARS} characters")
    if s.isdigit():  # the common case: "3"
        n = int(s)
        if n > INT_MAX:
            raise _out_of_range(s)
        return n
    try:
        f = float(s)
    except ValueError:
        if s.isspace():
            return MISSING
        raise Invalid(f"{shown(s)} is not a number") from None
    # float() also takes "nan", "inf", "infinity" (all contain an n) and "1_000": not Flow numbers
    if "_" in s or "n" in s or "N" in s:
        raise Invalid(f"{shown(s)} is not a number")
    if not math.isfinite(f):
        raise Invalid(f"{shown(s)} is out of range")
    if "." in s or "e" in s or "E" in s:
        return f
    n = int(s)  # integral text such as "-4": exact
    if not INT_MIN <= n <= INT_MAX:
        raise _out_of_range(s)
    return n


def _read_integer(v: Mapping[str, Any]) -> Any:
    n = _read_number(v)
    if type(n) is float:
        if not n.is_integer():
            raise Invalid(f"{shown(v.get('contentValue'))} is not an integer")
        if not INT_MIN <= n <= INT_MAX:  # "1e300" is integral, and far too big
            raise _out_of_range(v.get("contentValue"))
        return int(n)
    return n


def _read_boolean(v: Mapping[str, Any]) -> Any:
    s = v.get("contentValue")
    if s is None or s == "":
        return MISSING
    if type(s) is bool:
        return s
    b = _BOOLS.get(s) if type(s) is str else None
    if b is None:
        b = _BOOLS.get(s.strip().lower()) if type(s) is str else None
        if b is None:
            if type(s) is str and s.isspace():
                return MISSING
            raise Invalid(f"{shown(s)} is not a boolean (true or false)")
    return b


READERS: Final[dict[str, Reader]] = {
    "string": _read_string,
    "datetime": _read_datetime,
    "number": _read_number,
    "integer": _read_integer,
    "boolean": _read_boolean,
}


# --- JSON value -> Flow text -----------------------------------------------------------------


def format_scalar(value: Any) -> str | None:
    """The Flow text of a JSON scalar: 3 → "3", 30.0 → "30", 0.1 → "0.1", True → "true"."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is int:
        return int.__repr__(value)
    if t is float:
        if value.is_integer() and -1e16 < value < 1e16:
            return int.__repr__(int(value))
        if math.isfinite(value):
            return float.__repr__(value)
        raise Invalid(f"{value!r} is not a finite number")
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return None
    raise Invalid(f"expected a scalar, got {'an object' if t is dict else 'an array'}")


def json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a scalar" if value is not None else "null"
