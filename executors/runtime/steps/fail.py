"""``fail: '<jq>'``: fail the execution with the message given for the first document."""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram
from .set import as_property


class Fail:
    __slots__ = ("message",)

    def __init__(self, message: JqProgram):
        self.message = message

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        message = as_property(await self.message.first(documents[0], ctx))
        raise StepError(message or "failed", code="process_failed")


def compile_fail(config: Any, ctx: CompileContext) -> Fail:
    return Fail(ctx.jq(config))


step_type = StepTypeDef("fail", compile_fail)
