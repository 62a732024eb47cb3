"""No import cycle among the project's modules, counting function-local imports.

A function-local import hides a cycle from Python at import time but not from a reader:
the modules still depend on each other. The graph here holds every import of every
module under the product's top-level folders, at module level or inside a function or
class, and the test names each cycle it finds."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (folder, how its modules are named): service/ is on sys.path, the rest from the root
PACKAGE_ROOTS = ((ROOT / "service", ""),) + tuple(
    (ROOT / name, name + ".") for name in ("observability", "dashboards", "alerting",
                                           "deploy", "scale"))


def project_modules() -> dict[str, Path]:
    """Module name -> file, for every .py under the product folders."""
    modules = {}
    for folder, prefix in PACKAGE_ROOTS:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts or any(not p.isidentifier() for p in parts):
                continue
            name = ".".join(parts)
            modules[(prefix + name) if prefix else name] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imported_names(module: str, path: Path, known: dict[str, Path] | None = None) -> set[str]:
    """Every module name an import statement anywhere in the file refers to.

    `from package import name` is an import of package.name when that is a module of
    `known`, else of the package (the name is defined there)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                names.add(submodule if known is None or submodule in known else target)
                if known is None:  # no module list: both readings
                    names.add(target)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for name in imported_names(module, path, modules):
            # the module itself, or the nearest enclosing package that is ours
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count
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
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself."""
    start = min(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    return sorted(members)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    source = ("import os\nfrom . import sibling\n"
              "def f():\n    from pkg.other import thing\n    import pkg.third\n")
    (tmp_path / "pkg").mkdir()
    path = tmp_path / "pkg" / "mod.py"
    path.write_text(source)
    names = imported_names("pkg.mod", path)
    assert {"os", "pkg", "pkg.sibling", "pkg.other", "pkg.other.thing",
            "pkg.third"} <= names
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_covers_the_product():
    graph = import_graph()
    assert "ai_assist.app" in graph and "dashboards.lib.queries" in graph
    assert "ai_assist.config" in graph["ai_assist.app"]


def test_no_import_cycle_among_the_projects_modules():
    found = cycles(import_graph())
    assert not found, "import cycles (function-local imports included):\n" + "\n".join(
        "  " + " -> ".join(cycle) for cycle in found)


def test_settings_import_nothing_of_the_service_but_its_version_and_ports():
    """config.py is a leaf: the files settings name are loaded by the composition root
    (ai_assist/composition.py), never by the settings themselves."""
    assert import_graph()["ai_assist.config"] <= {"ai_assist", "ai_assist.ports"}
