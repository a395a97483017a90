"""``set: {props: {name: '<jq>'}, docprops: {name: '<jq>'}}``: set properties.

Each program runs per document. String results are stored as they are, other results
JSON-encoded, ``null`` removes the property. All programs of one document see the properties as
they were before that document's assignments.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document, encode_json
from ..expressions import JqProgram


def as_property(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return encode_json(value).decode()


class Set:
    __slots__ = ("docprops", "props")

    def __init__(self, props: list[tuple[str, JqProgram]], docprops: list[tuple[str, JqProgram]]):
        self.props = props
        self.docprops = docprops

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        output = []
        for document in documents:
            props = [(name, as_property(await p.first(document, ctx))) for name, p in self.props]
            docprops = [
                (name, as_property(await p.first(document, ctx))) for name, p in self.docprops
            ]
            for name, value in props:
                ctx.set_prop(name, value)
            if docprops:
                properties = dict(document.properties)
                for name, text in docprops:
                    if text is None:
                        properties.pop(name, None)
                    else:
                        properties[name] = text
                document = document.with_properties(properties)
            output.append(document)
        return output


def _programs(raw: Any, ctx: CompileContext, key: str) -> list[tuple[str, JqProgram]]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        ctx.issue("expected a mapping of property names to jq programs", key)
        return []
    return [(str(name), ctx.jq(text, f"{key}.{name}")) for name, text in raw.items()]


def compile_set(config: Any, ctx: CompileContext) -> Set:
    options = ctx.options(config, optional=("props", "docprops"))
    if isinstance(config, dict) and not config:
        ctx.issue("set needs props or docprops")
    return Set(
        _programs(options.get("props"), ctx, "props"),
        _programs(options.get("docprops"), ctx, "docprops"),
    )


step_type = StepTypeDef("set", compile_set)
