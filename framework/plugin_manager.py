"""Loading plugins named in a recipe into a pluggy `PluginManager`, in their calling order."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

from framework import hookspecs
from framework.hookspecs import hookimpl
from framework.errors import RecipeError, TapelineError
from framework.recipe import Recipe, build_component
from framework.schema import suggest
from framework.registry import PLUGINS

if TYPE_CHECKING:
    import keras

DEFAULT_ORDER = 50


def plugin_order(plugin: Any) -> int:
    """A plugin's ``order`` attribute (lower is called first), `DEFAULT_ORDER` when it has none."""
    return getattr(plugin, "order", DEFAULT_ORDER)


def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager that knows Tapeline's hook specs."""
    manager = pluggy.PluginManager("tapeline")
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(recipe: Recipe) -> tuple[pluggy.PluginManager, list[keras.callbacks.Callback]]:
    """The recipe's plugins in a manager (called by ``order``, then recipe order), and its Keras callbacks.

    A plugin entry naming a Keras callback class (``keras.callbacks:EarlyStopping``) is
    passed to ``fit`` as it is, for users coming from ``model.fit(callbacks=...)``.
    """

    manager = new_plugin_manager()
    built, problems = [], []
    for i, component in enumerate(recipe.plugins):
        try:
            built.append((component.name, build_component(recipe, PLUGINS, ("plugins", i))))
        except RecipeError as error:
            problems += error.problems
    if problems:
        raise RecipeError(problems)
    callbacks = [plugin for _, plugin in built if is_keras_callback(plugin)]
    plugins = [(name, plugin) for name, plugin in built if not is_keras_callback(plugin)]
    ranked = sorted(enumerate(plugins), key=lambda item: (plugin_order(item[1][1]), item[0]))
    for index, (name, plugin) in reversed(ranked):  # pluggy calls the last registered first
        try:
            manager.register(plugin, name=name if manager.get_plugin(name) is None else f"{name}#{index}")
        except pluggy.PluginValidationError as error:
            raise TapelineError(f"plugin {name!r} does not match Tapeline's hooks: {error}") from None
    check_hook_names(manager)
    return manager, callbacks


def is_keras_callback(plugin: Any) -> bool:
    """Whether `plugin` is a Keras callback; a plugin can only be one when Keras is imported already."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(plugin, keras.callbacks.Callback)


def enable_batch_hook(plugin: Any, method: Callable[..., str | None]) -> None:
    """Makes `method` the plugin's ``on_batch_end`` hook, for plugins needing batches only in some modes.

    `method` takes any of the hook's arguments by name, like a hook. Call this from ``__init__``;
    a plugin that never calls it implements no batch hook, so its runs do no per-batch work. Declare it in the class: ``optional_hooks = ("on_batch_end",)``.
    """

    wanted = inspect.signature(method).parameters

    @hookimpl
    def on_batch_end(trainer: Any, run: Any, epoch: int, batch: int, logs: dict[str, float]) -> str | None:
        given = {"trainer": trainer, "run": run, "epoch": epoch, "batch": batch, "logs": logs}
        return method(**{name: value for name, value in given.items() if name in wanted})

    plugin.on_batch_end = on_batch_end


BATCH_METHODS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def needs_every_batch(manager: pluggy.PluginManager, keras_callbacks: list[keras.callbacks.Callback] = ()) -> bool:
    """Whether a plugin implements ``on_batch_end`` or a Keras callback overrides a training-batch method."""
    import keras

    overrides = (getattr(type(c), m) is not getattr(keras.callbacks.Callback, m) for c in keras_callbacks for m in BATCH_METHODS)
    return bool(manager.hook.on_batch_end.get_hookimpls()) or any(overrides)


def implemented_hooks(target: Any) -> list[str]:
    """The hooks a plugin class implements; those it may enable per instance end with ``?``.

    A plugin calling `enable_batch_hook` declares it with ``optional_hooks = ("on_batch_end",)``.
    """
    fixed = [name for name in dir(target) if name.startswith("on_") and hasattr(getattr(target, name), "tapeline_impl")]
    return fixed + [f"{name}?" for name in getattr(target, "optional_hooks", ())]


def check_hook_names(manager: pluggy.PluginManager) -> None:
    """`TapelineError` naming the plugin when one implements a hook that does not exist."""
    hooks = [name for name in vars(hookspecs) if name.startswith("on_")]
    for name, caller in vars(manager.hook).items():
        if isinstance(caller, pluggy.HookCaller) and not caller.has_spec():
            owner = manager.get_name(caller.get_hookimpls()[0].plugin)
            raise TapelineError(
                f"plugin {owner!r} implements unknown hook {name!r}; hooks: {', '.join(hooks)}{suggest(name, hooks)}"
            )


def call_order(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """For each hook, the plugins implementing it in the order they are called."""
    order = {}
    for name in sorted(vars(hookspecs)):
        caller = getattr(manager.hook, name, None)
        if isinstance(caller, pluggy.HookCaller):
            order[name] = [manager.get_name(impl.plugin) for impl in reversed(caller.get_hookimpls())]
    return order
