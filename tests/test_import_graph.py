"""Tests for the package's architecture: its layers import only downwards, no import cycle, the plugin contract stands
alone."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
# Lowest first: a module may import modules of its own layer or of layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("framework.errors", "framework.files", "framework.extras"),
    ("framework.runtime",),
    ("framework.recipe",),
    ("framework.data",),
    ("framework.model",),
    ("framework.hooks",),
    ("framework.build",),
    ("framework.training",),
    ("framework.tools",),
    ("framework", "framework.cli", "framework.__main__"),
    ("plugins",),
)
CONTRACT = ("framework.hooks.specs", "framework.hooks.context")
TRAINING_LOOP = (
    "framework.hooks.adapter",
    "framework.hooks.manager",
    "framework.model",
    "framework.build",
    "framework.training",
)
MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 8


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


def layer(module: str) -> int:
    """The index in `LAYERS` of the layer `module` belongs to (the longest matching prefix)."""
    matches = [
        (len(prefix), index)
        for index, names in enumerate(LAYERS)
        for prefix in names
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer of LAYERS"
    return max(matches)[1]


def upward_edges(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every import (module, imported) whose imported module sits in a higher layer."""
    return sorted(
        (source, target) for source, targets in edges.items() for target in targets if layer(target) > layer(source)
    )


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


def test_every_import_goes_to_the_same_layer_or_below():
    """No module imports a module of a higher layer, TYPE_CHECKING and function-level imports included."""
    assert upward_edges(graph()) == []


def test_there_is_no_import_cycle():
    """No import cycle at all, TYPE_CHECKING and function-level imports included."""
    assert cycles(graph()) == []


def test_the_plugin_contract_imports_nothing_from_the_training_loop():
    """framework.hooks.specs and framework.hooks.context import no training-loop module, not even under TYPE_CHECKING,
    and neither do the modules they import (at module level: an import inside a function runs only when it is
    called)."""
    edges = graph(in_functions=False)
    for module in CONTRACT:
        assert not {m for m in reachable(edges, module) if m.startswith(TRAINING_LOOP)}, module


def test_the_checks_find_planted_mistakes():
    """The layer check reports an upward import and the cycle finder a planted cycle; neither reports a clean chain."""
    assert upward_edges({"framework.recipe.loader": {"framework.training.run"}, "framework.training.run": set()}) == [
        ("framework.recipe.loader", "framework.training.run")
    ]
    assert upward_edges({"framework.training.run": {"framework.recipe.loader"}, "framework.recipe.loader": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_modules_stay_small_and_the_top_level_stays_short():
    """No module has over 400 lines, and framework/ holds at most 8 modules besides its sub-packages."""
    long = {name: n for name, file in modules().items() if (n := len(file.read_text().splitlines())) > MAX_LINES}
    assert long == {}
    assert len(list((ROOT / "framework").glob("*.py"))) <= MAX_TOP_LEVEL_MODULES


def test_built_in_plugins_import_only_the_public_package():
    """plugins/ imports `framework` itself (the plugin toolkit), never its sub-modules, as third-party plugins
    should."""
    inner = {
        name: sorted(m for m in imports(file, set(modules())) if m.startswith("framework."))
        for name, file in modules().items()
        if name.startswith("plugins")
    }
    assert {name: found for name, found in inner.items() if found} == {}
