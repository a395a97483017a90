"""``stop: {}``: end the whole execution now, successfully; documents returned so far stand."""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document


class Stop:
    __slots__ = ()

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        ctx.stop()
        return []


def compile_stop(config: Any, ctx: CompileContext) -> Stop:
    ctx.options(config, allow_null=True)
    return Stop()


step_type = StepTypeDef("stop", compile_stop)
