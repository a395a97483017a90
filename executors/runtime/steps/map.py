"""``map: '<jq>'``: each output of the program becomes a document (properties kept).

A step gives at most the execution's ``documents_per_step`` documents (``split``: also at most
``split_fanout`` from one document); the program is stopped when it passes the limit, so a
runaway ``range`` fails fast instead of filling memory.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..expressions import JqProgram
from ..limits import limit_exceeded


class Map:
    __slots__ = ("fanout", "program")

    def __init__(self, program: JqProgram, *, fanout: bool = False):
        self.program = program
        #: A split: bounded by ``split_fanout`` per document as well.
        self.fanout = fanout

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        limits = ctx.policy.limits
        per_step = limits.documents_per_step
        output: list[Document] = []
        for document in documents:
            room, limit, value = per_step - len(output), "documents_per_step", per_step
            if self.fanout and limits.split_fanout <= room:
                room, limit, value = limits.split_fanout, "split_fanout", limits.split_fanout
            values = await self.program.values(document, ctx, room, limit)
            if len(values) > room:  # the Python subset gives its one value without asking
                raise limit_exceeded(limit, value, "the step gives more documents")
            for value in values:
                output.append(Document.from_value(value, dict(document.properties)))
        return output


def compile_map(config: Any, ctx: CompileContext) -> Map:
    return Map(ctx.jq(config))


step_type = StepTypeDef("map", compile_map)
