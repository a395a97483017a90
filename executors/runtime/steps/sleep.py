"""``sleep: 1.5s``: wait (cancellable); documents pass through."""

from __future__ import annotations

import asyncio
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document


class Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        await asyncio.sleep(self.seconds)
        return documents


def compile_sleep(config: Any, ctx: CompileContext) -> Sleep:
    if config is None:
        ctx.issue("expected a duration like 1.5s or 500ms")
        return Sleep(0)
    return Sleep(ctx.duration(config, None, 0.0))


step_type = StepTypeDef("sleep", compile_sleep)
