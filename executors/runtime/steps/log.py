"""``log: {level: info, message: '<jq>'}``: log one line per document; documents pass through."""

from __future__ import annotations

import logging
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..expressions import JqProgram
from .set import as_property

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class Log:
    __slots__ = ("level", "message")

    def __init__(self, level: int, message: JqProgram):
        self.level = level
        self.message = message

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        for document in documents:
            ctx.log(self.level, as_property(await self.message.first(document, ctx)) or "")
        return documents


def compile_log(config: Any, ctx: CompileContext) -> Log:
    if isinstance(config, str):
        return Log(logging.INFO, ctx.jq(config))
    options = ctx.options(config, required=("message",), optional=("level",))
    level = options.get("level", "info")
    if level not in LEVELS:
        ctx.issue(f"expected one of {', '.join(LEVELS)}, got {level!r}", "level")
        level = "info"
    return Log(LEVELS[level], ctx.jq(options.get("message", "."), "message"))


step_type = StepTypeDef("log", compile_log)
