"""The folders are the architecture: these import rules keep them so (STYLE.md, "The house")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str, base: Path = ROOT) -> list[tuple[Path, str]]:
    found = []
    root = base / package
    assert root.exists(), f"{package} moved: update the import rules"
    for path in [root] if root.is_file() else root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _violations(package: str, forbidden: tuple[str, ...], base: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(base)} imports {module}"
        for path, module in _imports(package, base)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("gateway", ("executors",)),
        ("executors", ("gateway",)),
        ("executors/runtime", ("grpc", "protos", "gateway", "grpc_health", "grpc_reflection")),
        # The servers never import the tools built on them (no upward arrows).
        ("gateway", ("flowhost", "scripts", "tests")),
        ("executors", ("flowhost", "scripts", "tests")),
        # Nothing shipped or run by users imports the test suite.
        ("flowhost", ("tests", "scripts")),
        ("scripts", ("tests",)),
        # The benchmark and the dev cluster stand below the CLI: no cli <-> bench circle.
        ("flowhost/bench", ("flowhost.cli",)),
        ("flowhost/devcluster.py", ("flowhost.cli", "flowhost.bench")),
        ("flowhost/client.py", ("flowhost.cli", "flowhost.bench", "flowhost.devcluster")),
        ("flowhost/link.py", ("flowhost.cli", "flowhost.bench", "flowhost.devcluster")),
        # The rooms hold a capability; the HTTP surface over them is gateway/api (and app.py).
        # The store is the bottom room: it knows no HTTP, no Flow and none of its users.
        (
            "gateway/store",
            (
                *("gateway.api", "gateway.app", "gateway.callbacks", "gateway.configuration"),
                *("gateway.control", "gateway.errors", "gateway.flow", "gateway.history"),
                *("fastapi", "starlette"),
            ),
        ),
        ("gateway/callbacks", ("gateway.api", "gateway.app", "gateway.control", "fastapi")),
        (
            "gateway/history",
            ("gateway.api", "gateway.app", "gateway.callbacks", "gateway.control", "fastapi"),
        ),
        # Triggers run executions as the Flow path does, without its HTTP framework.
        ("gateway/triggers", ("gateway.api", "gateway.app", "gateway.control", "fastapi")),
    ],
)
def test_import_rules(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, forbidden) == []


def test_protobuf_stays_at_the_edges() -> None:
    """Only the translate modules, the servicer/server and the executor client touch *_pb2."""
    allowed = {
        "gateway/translate.py",
        "gateway/executor_client.py",
        "gateway/execution_stream.py",
        "gateway/file_calls.py",
        "gateway/link.py",
        "executors/translate.py",
        "executors/execution_session.py",
        "executors/execution_link.py",
        "executors/link.py",
        "executors/servicer.py",
        "executors/server.py",
    }
    users = {
        str(path.relative_to(ROOT))
        for package in ("gateway", "executors")
        for path, module in _imports(package)
        if module.startswith("protos")
    }
    assert users <= allowed, f"protobuf used outside the edges: {sorted(users - allowed)}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself must see an import when there is one (in a copy of the tree, so the
    real one is never written while other tests, maybe in parallel workers, read it)."""
    runtime = tmp_path / "executors" / "runtime"
    runtime.mkdir(parents=True)
    for source in (ROOT / "executors" / "runtime").glob("*.py"):
        (runtime / source.name).write_text(source.read_text())
    assert _violations("executors/runtime", ("grpc",), tmp_path) == []
    (runtime / "_probe_for_test.py").write_text("import grpc\n")
    assert _violations("executors/runtime", ("grpc",), tmp_path) == [
        "executors/runtime/_probe_for_test.py imports grpc"
    ]


def test_the_cli_imports_the_benchmark_only_inside_its_commands() -> None:
    """`flowhost --help` must not load the benchmark (nor need its extras): module-level imports
    of flowhost/cli name no flowhost.bench."""
    eager = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "flowhost" / "cli").rglob("*.py")
        for node in ast.parse(path.read_text()).body
        for module in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if module == "flowhost.bench" or module.startswith("flowhost.bench.")
    ]
    assert eager == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph(*packages: str) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` it imports, TYPE_CHECKING imports included.

    Relative imports are resolved; ``from . import x`` is an arrow to ``x``, not to the package.
    """
    paths = {
        _module_name(path): path for package in packages for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    module = f"{base}.{node.module}" if node.module else base
                else:
                    module = node.module or ""
                submodules = {f"{module}.{alias.name}" for alias in node.names} & paths.keys()
                targets.update(submodules or {module})
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = [stack.pop()]
            while group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize(
    "package",
    ["gateway", "executors", "executors/runtime", "flowhost", "flowhost/cli", "flowhost/bench"],
)
def test_no_import_circles(package: str) -> None:
    """Two modules that import each other (even only for types) mean a third is missing."""
    assert _circles(_module_graph(package)) == []


def test_the_circle_check_sees_a_circle() -> None:
    graph = _module_graph("executors/runtime")
    graph["executors.runtime.context"].add("executors.runtime.compile")
    assert ["executors.runtime.compile", "executors.runtime.context"] in _circles(graph)
