"""Configuration values: Flow sends them as text; processes see them as their declared type."""

from __future__ import annotations

import math
import reprlib
from typing import Any, Final

CONFIG_TYPES = ("string", "number", "boolean", "datetime", "password")
# The rules of Flow numbers elsewhere (docs/flow-types.md): integers within signed 64 bits,
# finite doubles, text no longer than this (CPython's int() refuses past 4300 digits).
NUMBER_MAX_CHARS: Final = 100
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1


_SHOWN = reprlib.Repr()  # messages never echo a huge value whole
_SHOWN.maxstring = 40
_shown = _SHOWN.repr


def _number(text: str) -> int | float:
    if len(text) > NUMBER_MAX_CHARS:
        raise ValueError(f"expected a number, got {_shown(text)} (over {NUMBER_MAX_CHARS} chars)")
    if "_" in text or not text.isascii():  # int() takes "1_000" and Arabic-Indic digits
        raise ValueError(f"expected a number, got {_shown(text)}")
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        if not _INT_MIN <= number <= _INT_MAX:
            raise ValueError(
                f"{_shown(text)} is outside the 64-bit integer range ({_INT_MIN} to {_INT_MAX})"
            )
        return number
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {_shown(text)}") from None
    if not math.isfinite(value) or "n" in text.lower():  # nan, inf, infinity, 1e999
        raise ValueError(f"expected a finite number, got {_shown(text)}")
    return value


def convert_config_value(kind: str, text: str) -> Any:
    """A configuration value (always a string on the wire) as its declared type."""
    if kind == "number":
        return _number(text)
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False
        raise ValueError(f"expected true or false, got {_shown(text)}")
    return text
