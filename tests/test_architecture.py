"""The folders are the architecture: these import rules keep them so (STYLE.md, "The house")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> list[tuple[Path, str]]:
    found = []
    root = ROOT / package
    assert root.exists(), f"{package} moved: update the import rules"
    for path in [root] if root.is_file() else root.rglob("*.py"):
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
    ],
)
def test_import_rules(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, forbidden) == []


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
