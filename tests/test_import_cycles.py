"""No module of pixlab/ imports, at run time, a module that imports it back.

Run time means every import that runs: at module level, and inside a function
too, since a lazy import still runs (later) and only hides the circle. Only
the imports under `if TYPE_CHECKING:` never run, and they are left out. The
circles are found from the files themselves (ast), not by importing them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pixlab"


def module_names(package: Path) -> dict[str, Path]:
    """Every module of a package, by dotted name (a package by its __init__)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_time_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run, when the module is imported or its functions called."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports at run time."""
    modules = module_names(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in run_time_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the module pkg.sub; `from mod import name`, mod.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each group of modules that import one another (Tarjan's SCC)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_around(graph, group) for group in groups]


def _path_around(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    # A shortest way back to the start, inside the group: that is the circle to name.
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no circle in {sorted(group)}")


def test_no_module_of_pixlab_imports_its_importer_back() -> None:
    found = circles(import_graph(PACKAGE))
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_walk_sees_every_module() -> None:
    graph = import_graph(PACKAGE)
    assert "pixlab.lab.access" in graph["pixlab.lab.runner"]
    assert "pixlab.lab.imap" in graph["pixlab.lab.runner"]  # the servers, at the top
    assert "pixlab.web.sandbox" in graph["pixlab.web"]  # the blueprints, at the top


def test_a_circle_is_found_and_named(tmp_path: Path) -> None:
    package = tmp_path / "demo"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from demo.sub import b\n")
    (package / "sub" / "__init__.py").write_text("from demo.sub.c import thing\n")
    (package / "sub" / "b.py").write_text("import demo.sub\n")
    (package / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from demo import a\n"
        "thing = 1\n"
    )
    assert circles(import_graph(package)) == []  # an import for type hints never runs
    (package / "sub" / "c.py").write_text(
        "thing = 1\n"
        "def later():\n    from .. import a\n"  # a lazy import runs too, when called
    )
    graph = import_graph(package)
    assert graph["demo.sub.c"] == {"demo.a"}
    assert circles(graph) == [["demo.a", "demo.sub.b", "demo.sub", "demo.sub.c", "demo.a"]]
