"""Configuration values: Flow sends them as text; processes see them as their declared type."""

from __future__ import annotations

from typing import Any

CONFIG_TYPES = ("string", "number", "boolean", "datetime", "password")


def convert_config_value(kind: str, text: str) -> Any:
    """A configuration value (always a string on the wire) as its declared type."""
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    return text
