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
from ..policy import ExecutionLimits


class Map:
    __slots__ = ("fanout", "program")

    def __init__(self, program: JqProgram, *, fanout: bool = False):
        self.program = program
        #: A split: bounded by ``split_fanout`` per document as well.
        self.fanout = fanout

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        program = self.program
        limits = ctx.policy.limits
        output: list[Document] = []
        for document in documents:
            values = program.values_now(document, ctx)  # the subset: one value, no await
            if values is None:
                room, limit = self._room(limits, len(output))
                values = await program.values(document, ctx, room, limit)
            elif len(output) >= limits.documents_per_step or (
                self.fanout and limits.split_fanout < 1
            ):
                _, limit = self._room(limits, len(output))
                raise limit_exceeded(limit, getattr(limits, limit), "the step gives more documents")
            for value in values:
                output.append(Document.from_value(value, dict(document.properties)))
        return output

    def _room(self, limits: ExecutionLimits, given: int) -> tuple[int, str]:
        """How many more documents this document may give, and the limit that says so."""
        room = limits.documents_per_step - given
        if self.fanout and limits.split_fanout <= room:
            return limits.split_fanout, "split_fanout"
        return room, "documents_per_step"


def compile_map(config: Any, ctx: CompileContext) -> Map:
    return Map(ctx.jq(config))


step_type = StepTypeDef("map", compile_map)
