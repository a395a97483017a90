"""``flow_filter: {}``: apply the request's Flow list filter to the documents, in memory.

For sources that cannot filter (most HTTP APIs): each document is one record of the data
action's type; the documents the filter selects come out in its order, one page long plus one
(the gateway tells Flow there are more). The semantics are exactly those the ``db`` step pushes
down into SQL (see ``executors.runtime.listfilter``). Outside a data action it passes every
document on.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..listfilter import apply


class FlowFilter:
    __slots__ = ()

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        if ctx.data is None:
            return documents
        records = [document.value for document in documents]
        return [documents[i] for i in apply(records, ctx.data.filter, ctx.data.type)]


def compile_flow_filter(config: Any, ctx: CompileContext) -> FlowFilter:
    ctx.options(config, allow_null=True)
    return FlowFilter()


step_type = StepTypeDef("flow_filter", compile_flow_filter)
