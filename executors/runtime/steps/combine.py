"""``combine: {}`` or ``combine: {key: items}``: all documents into one array document.

The new document carries the first document's properties.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..limits import limit_exceeded


class Combine:
    __slots__ = ("key",)

    def __init__(self, key: str):
        self.key = key

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        # Concatenate bytes: the documents need not be parsed to be combined.
        parts = [document.raw for document in documents]
        limit = ctx.policy.limits.document_bytes
        if sum(map(len, parts)) + len(parts) + len(self.key) + 8 > limit:
            raise limit_exceeded("document_bytes", limit, "the combined document is larger")
        array = b"[" + b",".join(parts) + b"]"
        if self.key:
            key = Document.from_value(self.key).raw
            array = b"{" + key + b":" + array + b"}"
        return [Document.from_bytes(array, dict(documents[0].properties))]


def compile_combine(config: Any, ctx: CompileContext) -> Combine:
    options = ctx.options(config, optional=("key",), allow_null=True)
    key = options.get("key", "")
    if not isinstance(key, str):
        ctx.issue("expected a string", "key")
        key = ""
    return Combine(key)


step_type = StepTypeDef("combine", compile_combine)
