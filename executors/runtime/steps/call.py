"""``call: <process>`` or ``call: {process: <name>}``: run another process on the documents.

The called process shares the execution's properties; what it returns continues here.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document


class Call:
    __slots__ = ("process",)

    def __init__(self, process: str):
        self.process = process

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        return await ctx.call(self.process, documents)


def compile_call(config: Any, ctx: CompileContext) -> Call:
    at: str | None = None
    if isinstance(config, dict):
        config = ctx.options(config, required=("process",)).get("process")
        at = "process"
    if not isinstance(config, str):
        ctx.issue("expected a process name", at)
        return Call("")
    if config not in ctx.process_names:
        ctx.issue(f"no process named '{config}'", at)
    return Call(config)


step_type = StepTypeDef("call", compile_call)
