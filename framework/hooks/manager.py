"""Loading plugins named in a recipe into a pluggy `PluginManager`, in their calling order."""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from framework.errors import Problem, RecipeError, TapelineError
from framework.hooks import specs
from framework.hooks.order import resolve_order, warn_about_order
from framework.hooks.specs import StatefulPlugin, hookimpl
from framework.recipe.components import build_component
from framework.recipe.registry import PLUGINS
from framework.recipe.schema import suggest
from framework.recipe.sections import Recipe

if TYPE_CHECKING:
    import keras


HOOKS = [name for name in vars(specs) if name.startswith("on_")]
HOOKS_ORDER = {name: place for place, name in enumerate(HOOKS)}
HOOKIMPL_HINT = "`@framework.hookimpl` above it (`from framework import hookimpl`)"


def new_plugin_manager() -> pluggy.PluginManager:
    """An empty manager that knows Tapeline's hook specs."""
    manager = pluggy.PluginManager("tapeline")
    manager.add_hookspecs(specs)
    return manager


def load_plugins(
    recipe: Recipe, extra: Sequence[object] = ()
) -> tuple[pluggy.PluginManager, list[keras.callbacks.Callback]]:
    """The recipe's plugins in a manager (called in recipe order, after the plugins each names in ``after``), and its
    Keras callbacks.

    `extra` plugin objects (from Python: `tapeline tune`'s trial reporter) are called after the
    recipe's, under their class names; they are not written into the run's recipe.

    A plugin entry naming a Keras callback class (``keras.callbacks:EarlyStopping``) is
    passed to ``fit`` as it is, for users coming from ``model.fit(callbacks=...)``. The other
    plugins' hooks are checked (`plugin_problems`); every plugin's problems are reported
    together, each at its line in the recipe.
    """

    manager = new_plugin_manager()
    built, problems = [], []
    for i, component in enumerate(recipe.plugins):
        try:
            plugin = build_component(recipe, PLUGINS, ("plugins", i))
        except RecipeError as error:
            problems += error.problems
            continue
        if not is_keras_callback(plugin):
            problems += [
                Problem(recipe.locate(("plugins", i)), message) for message in plugin_problems(component.name, plugin)
            ]
        built.append((i, component.name, plugin))
    if problems:
        raise RecipeError(problems)
    callbacks = [plugin for _, _, plugin in built if is_keras_callback(plugin)]
    plugins = [entry for entry in built if not is_keras_callback(entry[2])]
    for _, name, plugin in plugins:
        warn_about_order(name, plugin)
    for plugin in extra:  # registered first: pluggy calls them last
        manager.register(plugin, name=type(plugin).__name__)
    names = dict(zip((id(plugin) for _, _, plugin in plugins), unique_names([name for _, name, _ in plugins])))
    for _, name, plugin in reversed(resolve_order(recipe, plugins)):  # pluggy calls the last registered first
        try:
            manager.register(plugin, name=names[id(plugin)])
        except pluggy.PluginValidationError as error:
            raise TapelineError(f"plugin {name!r} does not match Tapeline's hooks: {error}") from None
    return manager, callbacks


def unique_names(names: list[str]) -> list[str]:
    """Recipe names made unique for the manager: a name used before gets ``#<position>`` (``console#3``)."""
    return [f"{name}#{position}" if name in names[:position] else name for position, name in enumerate(names)]


def is_keras_callback(plugin: Any) -> bool:
    """Whether `plugin` is a Keras callback; a plugin can only be one when Keras is imported already."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(plugin, keras.callbacks.Callback)


def hook_options(value: Any) -> dict[str, Any] | None:
    """The options `hookimpl` marked `value` with; None when it is no hook implementation."""
    return getattr(value, f"{hookimpl.project_name}_impl", None)


def hook_arguments(hook: str) -> list[str]:
    """The arguments Tapeline calls `hook` with."""
    return list(inspect.signature(getattr(specs, hook)).parameters)


def plugin_problems(name: str, plugin: Any) -> list[str]:
    """What is wrong with a plugin's hooks: unknown hooks or arguments, ``on_*`` methods without `hookimpl`, no hook at
    all.

    A plugin whose hooks are all enabled per instance (``optional_hooks``, see `enable_batch_hook`) may have none.
    """
    # only what is callable without running it: a property is not evaluated (it may need the run)
    methods = {
        attr: getattr(plugin, attr)
        for attr in dir(plugin)
        if not attr.startswith("__") and callable(inspect.getattr_static(plugin, attr))
    }
    hooks = {attr: method for attr, method in methods.items() if hook_options(method) is not None}
    undecorated = [
        attr for attr, method in methods.items() if attr.startswith("on_") and callable(method) and attr not in hooks
    ]
    problems = [problem for attr, method in hooks.items() for problem in hook_problems(attr, method)]
    problems += [undecorated_problem(attr) for attr in undecorated]
    if not hooks and not problems and not getattr(plugin, "optional_hooks", ()):
        problems.append(
            f"implements no Tapeline hook; hooks: {', '.join(HOOKS)}; name a method after a hook and add "
            f"{HOOKIMPL_HINT}"
        )
    return [f"plugin {name!r} {problem}" for problem in problems]


def hook_problems(attr: str, method: Callable[..., Any]) -> list[str]:
    """An unknown hook name, or each argument of `method` that its hook does not pass."""
    hook = hook_options(method).get("specname") or attr
    if hook not in HOOKS:
        return [f"implements unknown hook {hook!r}; hooks: {', '.join(HOOKS)}{suggest(hook, HOOKS)}"]
    given = hook_arguments(hook)
    wanted = inspect.signature(method).parameters.values()
    unknown = [
        p.name
        for p in wanted
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in given
    ]
    return [
        f"has method {attr!r} with unknown argument {arg!r}; {hook} passes {', '.join(given)}{suggest(arg, given)}"
        for arg in unknown
    ]


def undecorated_problem(attr: str) -> str:
    """The problem with an ``on_*`` method that lacks `hookimpl`: it is never called."""
    if attr in HOOKS:
        return f"has method {attr!r} without `@hookimpl`, so Tapeline never calls it; add {HOOKIMPL_HINT}"
    return (
        f"has method {attr!r} without `@hookimpl`, and no hook has that name; name it after a hook and add "
        f"{HOOKIMPL_HINT}; hooks: {', '.join(HOOKS)}{suggest(attr, HOOKS)}"
    )


def enable_batch_hook(plugin: Any, method: Callable[..., str | None], **options: bool) -> None:
    """Makes `method` the plugin's ``on_batch_end`` hook, for plugins needing batches only in some modes.

    `method` takes any of the hook's arguments by name, like a hook. Call this from ``__init__``;
    a plugin that never calls it implements no batch hook, so its runs do no per-batch work. Declare it in the class:
    ``optional_hooks = ("on_batch_end",)``.
    `options` are `hookimpl`'s (``tryfirst=True`` ...).
    """

    wanted = inspect.signature(method).parameters

    @hookimpl(**options)
    def on_batch_end(trainer: Any, run: Any, epoch: int, batch: int, logs: dict[str, float]) -> str | None:
        given = {"trainer": trainer, "run": run, "epoch": epoch, "batch": batch, "logs": logs}
        return method(**{name: value for name, value in given.items() if name in wanted})

    plugin.on_batch_end = on_batch_end


BATCH_METHODS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def batch_interval(
    manager: pluggy.PluginManager, keras_callbacks: Sequence[keras.callbacks.Callback] = ()
) -> int | None:
    """The steps between the batches the batch hooks need: None when no plugin implements ``on_batch_end`` and no
    Keras callback overrides a training-batch method; else the greatest common divisor of each such plugin's
    ``batch_interval`` (1 for a plugin that declares none, and for a Keras callback).

    A plugin that logs every 48 batches declares ``batch_interval = 48``, so the run can keep 16 steps per compiled
    call (``steps_per_execution: auto``) and the plugin still sees batches 47, 95, ...
    """
    import keras

    overrides = any(
        getattr(type(c), m) is not getattr(keras.callbacks.Callback, m) for c in keras_callbacks for m in BATCH_METHODS
    )
    intervals = [getattr(impl.plugin, "batch_interval", 1) for impl in manager.hook.on_batch_end.get_hookimpls()]
    if not intervals and not overrides:
        return None
    return math.gcd(*intervals, *([1] if overrides else []))


def implemented_hooks(target: Any) -> list[str]:
    """The hooks a plugin class implements; those it may enable per instance end with ``?``.

    A plugin calling `enable_batch_hook` declares it with ``optional_hooks = ("on_batch_end",)``.
    """
    fixed = [name for name in dir(target) if name.startswith("on_") and hook_options(getattr(target, name)) is not None]
    return fixed + [f"{name}?" for name in getattr(target, "optional_hooks", ())]


def call_order(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """For each hook, the plugins implementing it in the order they are called."""
    order = {}
    for name in sorted(vars(specs)):
        caller = getattr(manager.hook, name, None)
        if isinstance(caller, pluggy.HookCaller):
            order[name] = [manager.get_name(impl.plugin) for impl in reversed(caller.get_hookimpls())]
    return order


def plugin_sequence(manager: pluggy.PluginManager) -> list[tuple[str, list[str]]]:
    """The plugins in their resolved calling order, each with its hooks (``on_epoch_end (trylast)`` for a moved hook).

    `load_plugins` registers the plugins in reverse calling order, and pluggy keeps them in registration order.
    """
    sequence = []
    for name, plugin in reversed(manager.list_name_plugin()):
        hooks = []
        for caller in sorted(manager.get_hookcallers(plugin) or (), key=lambda c: HOOKS_ORDER[c.name]):
            impl = next(impl for impl in caller.get_hookimpls() if impl.plugin is plugin)
            moved = " (tryfirst)" if impl.tryfirst else " (trylast)" if impl.trylast else ""
            hooks.append(caller.name + moved)
        sequence.append((name, hooks))
    return sequence


def stateful_plugins(manager: pluggy.PluginManager) -> dict[str, StatefulPlugin]:
    """The plugins implementing `StatefulPlugin`, by plugin name."""
    return {manager.get_name(p): p for p in manager.get_plugins() if isinstance(p, StatefulPlugin)}


def plugin_states(manager: pluggy.PluginManager) -> dict[str, dict[str, Any]]:
    """``state_dict()`` of every `StatefulPlugin`, by plugin name (saved with the training state)."""
    return {name: plugin.state_dict() for name, plugin in stateful_plugins(manager).items()}


def load_plugin_states(manager: pluggy.PluginManager, states: dict[str, dict[str, Any]]) -> None:
    """Gives each `StatefulPlugin` its saved state (when resuming); states of plugins no longer in the recipe are
    ignored."""
    plugins = stateful_plugins(manager)
    for name, state in states.items():
        if name in plugins:
            plugins[name].load_state_dict(state)
