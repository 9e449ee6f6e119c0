"""The engine's shape: no import cycle among its modules, no module past about 600 lines, no web
framework inside it, and the layers around it importing each other in one direction only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "emulator"
ENGINE = PACKAGE / "engine"
MAX_LINES = 650


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks left out), resolved
    to module names; ``from package import name`` counts the submodule when there is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or \
                        (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists():
                    found.add(candidate)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in root.rglob("*.py")}
    return {name: {m for m in runtime_imports(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = dfs(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = dfs(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_engine_modules():
    edges = graph(ENGINE)
    assert len(edges) >= 15  # the walk found the engine
    assert "emulator.engine.workspace" in edges["emulator.engine.backend"]  # and reads its imports
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE)))
def test_engine_modules_stay_small_and_framework_free(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: a concept wants its own module"
    outside = {m.split(".")[0] for m in runtime_imports(path)}
    assert not outside & {"flask", "werkzeug", "requests", "responses"}, path.name


def test_layers_import_in_one_direction():
    webhooks = set().union(*(runtime_imports(p) for p in (PACKAGE / "webhooks").glob("*.py")))
    assert not {m for m in webhooks if m.startswith("emulator.http")}, "the webhooks read answers with the engine's types"
    control = runtime_imports(PACKAGE / "control.py")
    assert not {m for m in control if m.startswith("emulator.http")}
    engine = set().union(*(runtime_imports(p) for p in ENGINE.rglob("*.py")))
    assert not {m for m in engine if m.startswith(("emulator.http", "emulator.webhooks", "emulator.control",
                                                    "emulator.facade", "emulator.snapshot"))}
