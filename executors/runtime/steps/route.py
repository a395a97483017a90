"""``route: {by: '<jq>', routes: {<value>: [steps]}, default: [steps]}``: one path per value.

The key is the program's first output: a string as is, anything else JSON-encoded (``1``,
``true``, ``null``). Documents with no matching route take ``default``, or pass through when
there is none. Outputs continue in the order the routes are written, default last.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext, StepNode
from ..documents import Document, encode_json
from ..expressions import JqProgram


def route_key(value: Any) -> str:
    return value if isinstance(value, str) else encode_json(value).decode()


class Route:
    __slots__ = ("by", "default", "routes")

    def __init__(self, by: JqProgram, routes: dict[str, list[StepNode]], default: list[StepNode]):
        self.by = by
        self.routes = routes
        self.default = default

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        groups: dict[str, list[Document]] = {}
        unmatched: list[Document] = []
        for document in documents:
            key = route_key(await self.by.first(document, ctx))
            if key in self.routes:
                groups.setdefault(key, []).append(document)
            else:
                unmatched.append(document)
        output: list[Document] = []
        for key, steps in self.routes.items():
            if key in groups:
                output.extend(await ctx.run_steps(steps, groups[key]))
        if unmatched:
            output.extend(await ctx.run_steps(self.default, unmatched))
        return output


def compile_route(config: Any, ctx: CompileContext) -> Route:
    options = ctx.options(config, required=("by", "routes"), optional=("default",))
    routes: dict[str, list[StepNode]] = {}
    raw_routes = options.get("routes", {})
    if not isinstance(raw_routes, dict):
        ctx.issue("expected a mapping of values to step lists", "routes")
        raw_routes = {}
    for key, steps in raw_routes.items():
        routes[route_key(key)] = ctx.steps(steps, f"routes.{key}")
    return Route(
        ctx.jq(options.get("by", "."), "by"),
        routes,
        ctx.steps(options.get("default", []), "default"),
    )


step_type = StepTypeDef("route", compile_route)
