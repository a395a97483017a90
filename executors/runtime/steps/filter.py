"""``filter: '<jq>'``: keep the documents whose first result is truthy."""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..expressions import JqProgram


class Filter:
    __slots__ = ("program",)

    def __init__(self, program: JqProgram):
        self.program = program

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        return [document for document in documents if await self.program.truthy(document, ctx)]


def compile_filter(config: Any, ctx: CompileContext) -> Filter:
    return Filter(ctx.jq(config))


step_type = StepTypeDef("filter", compile_filter)
