"""``decision: {if: '<jq>', then: [steps], else: [steps]}``: two paths, both continue.

Documents whose condition is truthy take ``then``, the others ``else``; a missing side passes
its documents through. The outputs continue, then-side first.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext, StepNode
from ..documents import Document
from ..expressions import JqProgram


class Decision:
    __slots__ = ("condition", "otherwise", "then")

    def __init__(self, condition: JqProgram, then: list[StepNode], otherwise: list[StepNode]):
        self.condition = condition
        self.then = then
        self.otherwise = otherwise

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        yes: list[Document] = []
        no: list[Document] = []
        for document in documents:
            (yes if await self.condition.truthy(document, ctx) else no).append(document)
        output = await ctx.run_steps(self.then, yes) if yes else []
        if no:
            output = output + await ctx.run_steps(self.otherwise, no)
        return output


def compile_decision(config: Any, ctx: CompileContext) -> Decision:
    options = ctx.options(config, required=("if",), optional=("then", "else"))
    return Decision(
        ctx.jq(options.get("if", "."), "if"),
        ctx.steps(options.get("then", []), "then"),
        ctx.steps(options.get("else", []), "else"),
    )


step_type = StepTypeDef("decision", compile_decision)
