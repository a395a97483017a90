"""``branch: [[steps], [steps], ...]``: every branch gets all documents, run in order.

The outputs are concatenated in branch order.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef, describe
from ..context import RunContext, StepNode
from ..documents import Document


class Branch:
    __slots__ = ("branches",)

    def __init__(self, branches: list[list[StepNode]]):
        self.branches = branches

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        output: list[Document] = []
        for steps in self.branches:
            output.extend(await ctx.run_steps(steps, documents))
        return output


def compile_branch(config: Any, ctx: CompileContext) -> Branch:
    if not isinstance(config, list) or not config:
        ctx.issue(f"expected a list of step lists, got {describe(config)}")
        return Branch([])
    return Branch([ctx.steps(steps, index) for index, steps in enumerate(config)])


step_type = StepTypeDef("branch", compile_branch)
