"""``progress: '<jq>'``: tell Flow how far a long-running process has got.

Once the gateway has answered Flow ``WAIT`` (the action's sync timeout passed), each message
becomes an interim ``WAIT`` callback whose ``waitMessage`` Flow shows the user; before that, the
latest message becomes the ``waitMessage`` of the ``WAIT`` answer itself. Documents pass
through. The jq program runs on the first document.
"""

from __future__ import annotations

import logging
from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..expressions import JqProgram
from ..progress import report_progress
from .set import as_property


class Progress:
    __slots__ = ("message",)

    def __init__(self, message: JqProgram):
        self.message = message

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        if documents:
            message = as_property(await self.message.first(documents[0], ctx)) or ""
            if not report_progress(message):
                ctx.log(logging.DEBUG, f"progress (nobody listening): {message}")
        return documents


def compile_progress(config: Any, ctx: CompileContext) -> Progress:
    if isinstance(config, str):
        return Progress(ctx.jq(config))
    options = ctx.options(config, required=("message",))
    return Progress(ctx.jq(options.get("message", '""'), "message"))


step_type = StepTypeDef("progress", compile_progress)
