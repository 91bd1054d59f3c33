"""Tests for the import graph of framework/ and plugins/: the plugin contract (hook specs, run context) depends on no training-loop module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
CONTRACT = ("framework.hooks.specs", "framework.hooks.context")
TRAINING_LOOP = ("framework.run", "framework.callback", "framework.trainer", "framework.plugin_manager", "framework.state", "framework.probe")


def modules() -> dict[str, Path]:
    """Every module of the framework and plugins packages by dotted name (a package by its own name)."""
    found = {}
    for package in ("framework", "plugins"):
        for file in (ROOT / package).rglob("*.py"):
            parts = file.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def imports(file: Path, known: set[str], in_functions: bool = True) -> set[str]:
    """The known modules `file` imports: at the top, under TYPE_CHECKING and, with `in_functions`, inside functions.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``. Parent
    packages that Python initializes first are not counted (every module would "import" them).
    """
    found = set()
    todo = list(ast.parse(file.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not in_functions:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found |= {target} if target in known else {node.module} & known
        todo.extend(ast.iter_child_nodes(node))
    return found


def graph(in_functions: bool = True) -> dict[str, set[str]]:
    """Each module's imports of other framework/plugins modules (see `imports`)."""
    files = modules()
    return {name: imports(file, set(files), in_functions) - {name} for name, file in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm): each holds an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(component)

    for node in edges:
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """The modules `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_import_cycle_runs_through_the_plugin_contract():
    """No import cycle (TYPE_CHECKING and function-level imports included) contains framework.hookspecs or framework.context."""
    for component in cycles(graph()):
        assert not component & set(CONTRACT), sorted(component)


def test_the_plugin_contract_imports_nothing_from_the_training_loop():
    """framework.hookspecs and framework.context import no training-loop module, not even under TYPE_CHECKING,
    and neither do the modules they import (at module level: an import inside a function runs only when it is called)."""
    edges = graph(in_functions=False)
    for module in CONTRACT:
        assert not reachable(edges, module) & set(TRAINING_LOOP), module


def test_the_cycle_finder_finds_cycles():
    """The cycle finder reports a planted cycle and nothing for a chain."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
