"""Destination patterns: ``orders.{prefix}.get-order.{suffix}``.

A ``{name}`` placeholder is the configuration value ``name`` (``prefix``/``suffix`` by
convention, set per runtime by the operator); a ``{.jq}`` or ``{$jq}`` placeholder is a jq
program run on the document. What a placeholder gives must be a plain token: a jq part only
letters, digits, ``_`` and ``-`` (a caller's data can never add a level, a wildcard or another
namespace), a configuration part may also hold dots (``eu.prod``). Patterns are compiled at
deploy, so a bad one is a deploy issue with its path. A bad configuration part is the
operator's to fix (``broker_config``); a bad part from the document is the request's
(``broker_destination``, a 400 on `/fs/`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..compile import CompileContext
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_CONFIG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JQ_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_CONFIG_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
#: Literal text may hold what broker names hold; never spaces or braces.
_LITERAL = re.compile(r"[A-Za-z0-9_.-]*")
MAX_LENGTH = 255


def config_placeholders(pattern: str) -> set[str]:
    """The configuration names a pattern reads (for who-sets-what, config_owners.py)."""
    return {p for p in _PLACEHOLDER.findall(pattern) if _CONFIG_NAME.fullmatch(p)}


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled destination pattern: literal text, configuration names and jq programs."""

    text: str
    parts: tuple[str | tuple[str, str] | JqProgram, ...]

    async def expand(self, document: Document, ctx: RunContext) -> str:
        pieces = []
        for part in self.parts:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, tuple):
                pieces.append(_config_part(part[1], ctx))
            else:
                pieces.append(await _jq_part(part, document, ctx))
        destination = "".join(pieces)
        if not destination or len(destination) > MAX_LENGTH or ".." in destination:
            raise StepError(
                f"destination {self.text!r} gives {destination!r}: expected a name of 1 to "
                f"{MAX_LENGTH} characters without empty levels",
                code="broker_destination",
            )
        return destination


def compile_pattern(raw: Any, ctx: CompileContext, at: str) -> Pattern:
    """Compile ``raw`` (found at key ``at``); issues are recorded, a stand-in returned."""
    if not isinstance(raw, str) or not raw:
        ctx.issue("expected a destination name or pattern (a string)", at)
        return Pattern("", ("invalid",))
    parts: list[str | tuple[str, str] | JqProgram] = []
    position = 0
    for match in _PLACEHOLDER.finditer(raw):
        parts.append(_literal(raw[position : match.start()], ctx, at))
        inner = match.group(1).strip()
        if _CONFIG_NAME.fullmatch(inner):
            parts.append(("config", inner))
        elif inner.startswith((".", "$")):
            parts.append(ctx.jq(inner, at))
        else:
            ctx.issue(
                f"placeholder {{{inner}}}: expected a configuration name ({{prefix}}) or a jq "
                "program starting with . or $ ({.region})",
                at,
            )
        position = match.end()
    parts.append(_literal(raw[position:], ctx, at))
    return Pattern(raw, tuple(p for p in parts if p != ""))


def _literal(text: str, ctx: CompileContext, at: str) -> str:
    if not _LITERAL.fullmatch(text):
        ctx.issue(
            f"{text!r}: destination text may hold letters, digits and _ . - only "
            "(no spaces, wildcards or stray braces)",
            at,
        )
    return text


def _config_part(name: str, ctx: RunContext) -> str:
    value = ctx.config.get(name)
    if value is None or value == "":
        raise StepError(
            f"destination needs the configuration value {name!r}, which is not set "
            f"(flowhost config set {name} VALUE --runtime R)",
            code="broker_config",
        )
    text = str(value)
    if not _CONFIG_TOKEN.fullmatch(text):
        raise StepError(
            f"configuration value {name!r} may hold letters, digits and _ . - only in a "
            "destination",
            code="broker_config",
        )
    return text


async def _jq_part(program: JqProgram, document: Document, ctx: RunContext) -> str:
    value = await program.first(document, ctx)
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _JQ_TOKEN.fullmatch(text):
        raise StepError(
            f"destination part {program.text!r} gave {str(value)[:40]!r}: expected letters, "
            "digits, _ or - only",
            code="broker_destination",
        )
    return text
