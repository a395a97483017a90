"""flowhost's tools: the CLI, the development cluster and the benchmark.

The servers stay the top-level `gateway` and `executors` packages (they share only `protos`);
this package holds what is built on them, so a pip install adds no top-level `cli` or `bench`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowhost")
except PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path, never installed
    __version__ = "0+unknown"
