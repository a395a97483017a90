"""The folders are the architecture: these import rules keep them so (STYLE.md, "The house")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in _imports(package)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("gateway", ("executors",)),
        ("executors", ("gateway",)),
        ("executors/runtime", ("grpc", "protos", "gateway", "grpc_health", "grpc_reflection")),
        # The servers never import the tools built on them (no upward arrows).
        ("gateway", ("cli", "bench", "scripts", "tests")),
        ("executors", ("cli", "bench", "scripts", "tests")),
        # Nothing shipped or run by users imports the test suite.
        ("cli", ("tests", "scripts")),
        ("bench", ("tests", "scripts")),
        ("scripts", ("tests",)),
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
    ],
)
def test_import_rules(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, forbidden) == []


def _module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Which modules of `package` (under `root`) each module imports, counting every import:
    lazy ones and those for type checking too, since a circle there is still a missing room."""
    modules = {}
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other through imports (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                found.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", ["gateway", "executors"])
def test_no_import_circles(package: str) -> None:
    """Two modules that import each other mean a third is missing (STYLE.md)."""
    assert _circles(_module_graph(ROOT, package)) == []


def test_the_circle_check_sees_a_circle(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "pkg" / "b.py").write_text("from pkg import c\n")
    (tmp_path / "pkg" / "c.py").write_text("import pkg.a\n")
    (tmp_path / "pkg" / "d.py").write_text("from pkg.a import x\n")
    assert _circles(_module_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_protobuf_stays_at_the_edges() -> None:
    """Only the translate modules, the servicer/server and the executor client touch *_pb2."""
    allowed = {
        "gateway/translate.py",
        "gateway/executor_client.py",
        "executors/translate.py",
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
    """The checker itself must see an import when there is one."""
    module = ROOT / "executors" / "runtime" / "_probe_for_test.py"
    module.write_text("import grpc\n")
    try:
        assert _violations("executors/runtime", ("grpc",)) == [
            "executors/runtime/_probe_for_test.py imports grpc"
        ]
    finally:
        module.unlink()
