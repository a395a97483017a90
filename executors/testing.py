"""A harness for step authors and tests: run a package's process in-process, no gRPC.

result = await run_process(PACKAGE_YAML, "get-order", [{"orderId": "42"}])
assert result.status == "ok"
"""

from __future__ import annotations

from typing import Any

from .runtime.documents import Document
from .runtime.engine import CompiledPackage, ProcessResult
from .runtime.package import Package, load_package

__all__ = ["compile_package", "documents", "run_process", "values"]


def compile_package(text: str | Package) -> CompiledPackage:
    """Load (when given YAML text) and compile a package; raises ``PackageInvalid``."""
    package = load_package(text) if isinstance(text, str) else text
    return CompiledPackage.compile(package)


def documents(values: list[Any] | None) -> list[Document]:
    """Documents from JSON values."""
    return [Document.from_value(value) for value in values or []]


def values(result: ProcessResult) -> list[Any]:
    """The JSON values of the documents a run returned."""
    return [document.value for document in result.documents]


async def run_process(
    package: str | Package,
    process: str,
    documents: list[Any] | None = None,
    **run_kwargs: Any,
) -> ProcessResult:
    """Compile ``package`` and run ``process`` once over ``documents`` (JSON values).

    With no documents the process gets one empty object (``{}``), as a Flow action without
    inputs would. ``run_kwargs`` go to ``CompiledPackage.run`` (props, config, flow, timeout_s…).
    """
    compiled = compile_package(package)
    inputs = [
        Document.from_value(value) for value in (documents if documents is not None else [{}])
    ]
    try:
        return await compiled.run(process, inputs, **run_kwargs)
    finally:
        await compiled.aclose()
