"""flowhost's tools: the CLI, the development cluster and the benchmark.

The servers stay the top-level `gateway` and `executors` packages (they share only `protos`);
this package holds what is built on them, so a pip install adds no top-level `cli` or `bench`.

`__version__` is read from the installed metadata when first asked for: reading it costs ~35 ms,
which every `flowhost probe` (a healthcheck, every few seconds) would pay for nothing.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'flowhost' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowhost")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path, never installed
        return "0+unknown"
