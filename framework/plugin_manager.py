"""Loading plugins named in a recipe into a pluggy `PluginManager`, in their calling order."""

from __future__ import annotations

from typing import Any

import pluggy

from framework import hookspecs
from framework.errors import Problem, RecipeError, TapelineError
from framework.recipe import Recipe
from framework.schema import dotted
from framework.registry import PLUGINS

DEFAULT_ORDER = 50


def plugin_order(plugin: Any) -> int:
    """A plugin's ``order`` attribute (lower is called first), `DEFAULT_ORDER` when it has none."""
    return getattr(plugin, "order", DEFAULT_ORDER)


def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager that knows Tapeline's hook specs."""
    manager = pluggy.PluginManager("tapeline")
    manager.add_hookspecs(hookspecs)
    return manager


def make_plugin(recipe: Recipe, index: int) -> Any:
    """An instance of the recipe's `index`-th plugin; its own argument checks become `RecipeError`s."""
    component = recipe.plugins[index]
    try:
        return PLUGINS.get(component.name).target(**component.args)
    except (ValueError, TypeError) as error:
        path = ("plugins", index, "args")
        raise RecipeError([Problem(recipe.locate(path), f"`{dotted(path)}` of plugin {component.name!r}: {error}")]) from None


def load_plugins(recipe: Recipe) -> pluggy.PluginManager:
    """A manager holding the recipe's plugins, called by ``order`` and then recipe order."""
    manager = new_plugin_manager()
    plugins = [(component.name, make_plugin(recipe, i)) for i, component in enumerate(recipe.plugins)]
    ranked = sorted(enumerate(plugins), key=lambda item: (plugin_order(item[1][1]), item[0]))
    for index, (name, plugin) in reversed(ranked):  # pluggy calls the last registered first
        try:
            manager.register(plugin, name=name if manager.get_plugin(name) is None else f"{name}#{index}")
        except pluggy.PluginValidationError as error:
            raise TapelineError(f"plugin {name!r} does not match Tapeline's hooks: {error}") from None
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise TapelineError(f"{error} (see framework/hookspecs.py for the hooks there are)") from None
    return manager


def call_order(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """For each hook, the plugins implementing it in the order they are called."""
    order = {}
    for name in sorted(vars(hookspecs)):
        caller = getattr(manager.hook, name, None)
        if isinstance(caller, pluggy.HookCaller):
            order[name] = [manager.get_name(impl.plugin) for impl in reversed(caller.get_hookimpls())]
    return order
