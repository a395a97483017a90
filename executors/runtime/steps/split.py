"""``split: '<jq>'`` (default ``.[]``): every output becomes a document (properties kept)."""

from __future__ import annotations

from typing import Any

from ..compile import CompileContext, StepTypeDef
from ..expressions import JqProgram
from .map import Map


def compile_split(config: Any, ctx: CompileContext) -> Map:
    if config is None or config == {}:
        return Map(JqProgram(".[]"), fanout=True)
    return Map(ctx.jq(config), fanout=True)


step_type = StepTypeDef("split", compile_split)
