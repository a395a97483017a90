"""``map: '<jq>'``: each output of the program becomes a document (properties kept)."""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..expressions import JqProgram


class Map:
    __slots__ = ("program",)

    def __init__(self, program: JqProgram):
        self.program = program

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        output = []
        for document in documents:
            for value in self.program.values(document, ctx):
                output.append(Document.from_value(value, dict(document.properties)))
        return output


def compile_map(config: Any, ctx: CompileContext) -> Map:
    return Map(ctx.jq(config))


step_type = StepTypeDef("map", compile_map)
