"""The static checks of `make lint` that are cheap enough to gate every `make test` (CI runs only that)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_no_lint_errors() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package() -> None:
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def _module_imports(package_root: Path) -> dict[str, set[str]]:
    """Every module of the packages under ``package_root`` and the first-party modules it imports.

    Imports inside functions count (they run as soon as the function does); those under
    ``if TYPE_CHECKING:`` do not.
    """
    import ast

    graph: dict[str, set[str]] = {}
    for path in package_root.rglob("*.py"):
        module = ".".join(path.relative_to(package_root).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body
            for node in ast.walk(stmt)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = targets
    return {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}


def test_the_runtime_package_never_imports_the_developer_tooling() -> None:
    graph = _module_imports(ROOT / "layers" / "docpipe")

    assert not [m for m, targets in graph.items() for t in targets if t.startswith("docpipe_cli")]
    assert not (ROOT / "layers" / "docpipe" / "docpipe" / "cli.py").exists()
    assert not (ROOT / "layers" / "docpipe" / "docpipe" / "local").exists()


@pytest.mark.parametrize("package_root", ["layers/docpipe", "tools"])
def test_no_package_has_an_import_cycle(package_root: str) -> None:
    graph = _module_imports(ROOT / package_root)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, {m}))
    assert cycles == [], f"modules on an import cycle: {cycles}"
