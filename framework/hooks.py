"""Calling plugin hooks for the core: a failing plugin is named with its hook, and ``on_exception`` never raises."""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

import pluggy

from framework.errors import PluginError, error_summary

if TYPE_CHECKING:
    import keras

    from framework.context import RunContext


def plugin_in_traceback(error: BaseException, plugins: pluggy.PluginManager) -> str:
    """The name of the innermost registered plugin whose method is on `error`'s traceback."""
    names = {id(p): plugins.get_name(p) for p in plugins.get_plugins()}
    owners = [names.get(id(frame.f_locals.get("self"))) for frame, _ in traceback.walk_tb(error.__traceback__)]
    return next((name for name in reversed(owners) if name), "?")


def call_hook(plugins: pluggy.PluginManager, hook: str, **arguments: Any) -> list[Any]:
    """Calls `hook` of every plugin with keyword `arguments`; returns their results (None results left out).

    Raises `PluginError` naming the plugin and the hook when an implementation raises.
    """
    try:
        return getattr(plugins.hook, hook)(**arguments)
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(plugin_in_traceback(error, plugins), hook, error) from error


def call_on_exception(plugins: pluggy.PluginManager, trainer: keras.Model, run: RunContext, error: BaseException) -> None:
    """Calls every plugin's ``on_exception`` once, in calling order; what one raises is reported on stderr and the next is still called."""
    arguments = {"trainer": trainer, "run": run, "error": error}
    for impl in reversed(plugins.hook.on_exception.get_hookimpls()):  # pluggy's calling order
        try:
            impl.function(*(arguments[name] for name in impl.argnames), **{name: arguments[name] for name in impl.kwargnames if name in arguments})
        except Exception as raised:
            print(f"tapeline: warning: plugin {plugins.get_name(impl.plugin)!r} failed in on_exception: {error_summary(raised)}", file=sys.stderr)
