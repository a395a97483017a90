"""``return: {}`` or ``return: {outcome: '<jq>', faults: '<jq object>'}``.

Moves the documents to the result (in a called process: to the ``call`` step's output); this
path ends. ``outcome`` and ``faults`` are evaluated on the first document.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..errors import StepError
from ..expressions import JqProgram
from .set import as_property


class Return:
    __slots__ = ("faults", "outcome")

    def __init__(self, outcome: JqProgram | None, faults: JqProgram | None):
        self.outcome = outcome
        self.faults = faults

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        outcome = None
        if self.outcome is not None:
            outcome = as_property(await self.outcome.first(documents[0], ctx))
        faults: dict[str, str] = {}
        if self.faults is not None:
            value = await self.faults.first(documents[0], ctx)
            if value is not None and not isinstance(value, dict):
                raise StepError(f"faults must be an object, got {orjson.dumps(value).decode()}")
            for name, fault in (value or {}).items():
                text = as_property(fault)
                if text is not None:
                    faults[name] = text
        ctx.return_documents(documents, outcome, faults)
        return []


def compile_return(config: Any, ctx: CompileContext) -> Return:
    options = ctx.options(config, optional=("outcome", "faults"), allow_null=True)
    return Return(
        ctx.jq(options["outcome"], "outcome") if "outcome" in options else None,
        ctx.jq(options["faults"], "faults") if "faults" in options else None,
    )


step_type = StepTypeDef("return", compile_return)
