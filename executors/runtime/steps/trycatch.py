"""``try: {steps: [...], retries: 0, backoff: 100ms, catch: [...]}``.

On a failure inside ``steps`` the whole block is retried (the wait doubles each time), then
``catch`` runs on the original documents with ``error_message`` and ``error_step`` set. Without
``catch`` the documents are dropped and the failure logged. Deadlines, cancellation and ``stop``
are never caught.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext, StepNode
from ..documents import Document
from ..errors import StepFailure


class Try:
    __slots__ = ("backoff_s", "catch", "retries", "steps")

    def __init__(
        self, steps: list[StepNode], retries: int, backoff_s: float, catch: list[StepNode] | None
    ):
        self.steps = steps
        self.retries = retries
        self.backoff_s = backoff_s
        self.catch = catch

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        attempt = 0
        while True:
            try:
                return await ctx.run_steps(self.steps, documents)
            except StepFailure as failure:
                if attempt < self.retries:
                    await asyncio.sleep(self.backoff_s * (2**attempt))
                    attempt += 1
                    continue
                return await self._caught(failure, documents, ctx)

    async def _caught(
        self, failure: StepFailure, documents: list[Document], ctx: RunContext
    ) -> list[Document]:
        if self.catch is None:
            ctx.log(logging.WARNING, f"caught and dropped {len(documents)} documents: {failure}")
            return []
        caught = []
        for document in documents:
            properties = dict(document.properties)
            properties["error_message"] = failure.message
            properties["error_step"] = failure.step_path
            caught.append(document.with_properties(properties))
        return await ctx.run_steps(self.catch, caught)


def compile_try(config: Any, ctx: CompileContext) -> Try:
    options = ctx.options(config, required=("steps",), optional=("retries", "backoff", "catch"))
    return Try(
        ctx.steps(options.get("steps", []), "steps"),
        ctx.integer(options.get("retries"), "retries", 0),
        ctx.duration(options.get("backoff"), "backoff", 0.1),
        ctx.steps(options["catch"], "catch") if "catch" in options else None,
    )


step_type = StepTypeDef("try", compile_try)
