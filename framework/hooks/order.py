"""The order plugins are called in: recipe order, except that a plugin comes after the plugins its class names in
``after``.

``after = ("evaluation",)`` on a plugin class means: when a plugin named ``evaluation`` is in
the recipe, call its hooks first. A name is a plugin's recipe name (``evaluation``,
``my_package.mod:Class``, an entry-point name) or its class's ``name`` attribute. A name that is
no plugin at all, or ``after`` declarations that form a cycle, are recipe errors naming the
plugin. The ``order = N`` numbers of older plugins are not read any more (a warning says so).
"""

from __future__ import annotations

import graphlib
import warnings
from typing import Any

from framework.errors import Problem, RecipeError
from framework.recipe.registry import PLUGINS
from framework.recipe.schema import suggest
from framework.recipe.sections import Recipe

Loaded = tuple[int, str, Any]  # (index in recipe.plugins, recipe name, plugin object)


def identities(name: str, plugin: Any) -> set[str]:
    """The names `after` may use for a plugin: its recipe name and its class's ``name`` attribute."""
    own = getattr(type(plugin), "name", None)
    return {name, own} if isinstance(own, str) else {name}


def declared_after(plugin: Any) -> tuple[str, ...]:
    """The plugin's ``after`` names; `ValueError` unless it is a tuple or list of strings."""
    after = getattr(plugin, "after", ())
    if not isinstance(after, (tuple, list)) or not all(isinstance(n, str) for n in after):
        raise ValueError(f'has `after = {after!r}`; it must be a tuple of plugin names, e.g. `after = ("evaluation",)`')
    return tuple(after)


def resolve_order(recipe: Recipe, plugins: list[Loaded]) -> list[Loaded]:
    """`plugins` in calling order: each after the plugins it names in ``after``, otherwise in recipe order.

    Raises `RecipeError` at a plugin's recipe line for an ``after`` that is not a tuple of
    names, names no plugin (with a "did you mean"), or closes a cycle.
    """
    graph, problems = {}, []
    known = set(PLUGINS.names()) | {c.name for c in recipe.plugins}
    for _, name, plugin in plugins:
        known |= identities(name, plugin)
    for position, (index, name, plugin) in enumerate(plugins):
        try:
            after = declared_after(plugin)
        except ValueError as error:
            problems.append(Problem(recipe.locate(("plugins", index)), f"plugin {name!r} {error}"))
            continue
        unknown = [
            n for n in after if n not in known and ":" not in n
        ]  # an import path is a plugin when the recipe names it
        problems += [
            Problem(recipe.locate(("plugins", index)), unknown_message(name, n, sorted(known))) for n in unknown
        ]
        own = identities(name, plugin)
        graph[position] = {
            other
            for other, (_, o_name, o_plugin) in enumerate(plugins)
            if set(after) & identities(o_name, o_plugin) and not own & identities(o_name, o_plugin)
        }
    if problems:
        raise RecipeError(problems)
    return [plugins[position] for position in stable_topological_order(recipe, plugins, graph)]


def unknown_message(name: str, unknown: str, known: list[str]) -> str:
    """The problem with plugin `name` naming `unknown` in ``after``, with the plugin names and a "did you mean"."""
    return (
        f"plugin {name!r} has `after` naming {unknown!r}, which is no plugin; plugins: "
        f"{', '.join(known)}{suggest(unknown, known)}"
    )


def stable_topological_order(recipe: Recipe, plugins: list[Loaded], graph: dict[int, set[int]]) -> list[int]:
    """Positions in `graph` (position -> positions it comes after), each as early in recipe order as its ``after``
    allows."""
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = [plugins[position] for position in reversed(error.args[1])]
        chain = " after ".join(repr(name) for _, name, _ in cycle)
        where = recipe.locate(("plugins", cycle[0][0]))
        raise RecipeError(
            [
                Problem(
                    where,
                    f"plugin {cycle[0][1]!r} has `after` in a cycle: {chain}; remove one of these names from an "
                    "`after`",
                )
            ]
        ) from None
    ready: list[int] = []
    order: list[int] = []
    while sorter.is_active():
        ready = sorted([*ready, *sorter.get_ready()])
        order.append(ready.pop(0))
        sorter.done(order[-1])
    return order


def warn_about_order(name: str, plugin: Any) -> None:
    """A `FutureWarning` (once per plugin) for the ``order = N`` number older plugins declare, which is ignored now."""
    order = getattr(plugin, "order", None)
    if isinstance(order, int) and not isinstance(order, bool):
        warnings.warn(
            f"plugin {name!r} sets `order = {order}`, which Tapeline no longer reads: plugins are called in recipe "
            "order, "
            'after the plugins their class names in `after` (e.g. `after = ("evaluation",)`); see docs/plugins.md, '
            "Ordering",
            FutureWarning,
            stacklevel=2,
        )
