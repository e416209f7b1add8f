"""The library's modules import each other without cycles (the command line sits outside: sbdlib.experiments.cli)."""

import ast
from pathlib import Path

import sbdlib

PACKAGE = Path(sbdlib.__file__).resolve().parent


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":``: what runs a module as a script, not an import of the library."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The sbdlib modules a module imports anywhere (top level or inside functions), main guards excepted."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_main_guard(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sbdlib"):
            if node.module in modules:
                found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def _graph() -> dict[str, set[str]]:
    files = {("sbdlib." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): p
             for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {m: _imports(p, modules) - {m, "sbdlib"} for m, p in files.items()}
    for m, targets in graph.items():  # importing sbdlib.a.b first runs sbdlib/a/__init__.py
        graph[m] = targets | {parent for t in targets for parent in _parents(t)} - {m, "sbdlib"} - set(_parents(m))
    return graph


def _parents(module: str) -> list[str]:
    """The packages Python initialises before ``module``: ``sbdlib.a.b`` -> ``["sbdlib.a"]``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := dfs(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = _graph()
    assert {"sbdlib.experiments", "sbdlib.experiments.distributed", "sbdlib.experiments.cli", "sbdlib.models"} <= set(graph)
    assert "sbdlib.experiments" in graph["sbdlib.experiments.distributed"]  # the walk sees real imports
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_walk_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
