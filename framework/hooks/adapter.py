"""Calling plugin hooks for the core: a failing plugin is named with its hook, and ``on_exception`` never raises."""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

import keras
import pluggy

from framework.errors import PluginError, error_summary
from framework.hooks.manager import needs_every_batch
from framework.runtime.distribute import any_worker

if TYPE_CHECKING:
    from framework.hooks.context import RunContext
    from framework.training.run import Run


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


class HookCallback(keras.callbacks.Callback):
    """Calls the training, epoch and evaluation hooks of `run`'s plugins, passing them the run's `RunContext`.

    ``on_train_end`` is not called from here: `framework.run.train` calls it once the run's
    files are written. It defines no per-batch method, so Keras does no per-batch work for it;
    `hook_callback` returns the `BatchHookCallback` subclass only when a plugin implements
    `on_batch_end`. An exception in a plugin becomes a `PluginError` naming the plugin and the hook.
    """

    def __init__(self, run: Run, split: str) -> None:
        super().__init__()
        self.run = run
        self.split = split
        self.epoch = 0
        self.began = False  # a run resumed mid-epoch calls `fit` twice; the plugins' training begins once

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Calls `hook` with keyword arguments, ``trainer`` and ``run`` (the context) first."""
        return call_hook(self.run.plugins, hook, trainer=self.model, run=self.run.context, **kwargs)

    def stop_if_asked(self, reasons: list[str | None]) -> None:
        """Stops training with the first reason asked for (``run.request_stop``, then the hooks' returns), on every worker if one asks."""
        reason = self.run.stop_request or next((r for r in reasons if r), None)
        if any_worker(self.run.strategy, reason is not None):
            self.run.stop_reason = self.run.stop_reason or reason or "another worker stopped training"
            self.model.stop_training = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.began:
            self.began = True
            self.call("on_train_begin")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = self.run.epoch = epoch
        self.run.data.epoch.assign(epoch)  # before the epoch's data iterator starts: picks its order
        self.call("on_epoch_begin", epoch=epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stop_if_asked(self.call("on_epoch_end", epoch=epoch, logs=logs))

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.call("on_evaluate_end", split=self.split, logs=logs or {})


class BatchHookCallback(HookCallback):
    """`HookCallback` that also calls ``on_batch_end`` after every training step."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Keras 3.15 reports the last step of a compiled call as `first + steps_per_execution - 1`,
        # past the epoch's end on its last call (2, 5, 8 for 8 batches in calls of 3); a resumed epoch starts at its saved step
        batch += self.run.first_step(self.epoch)
        steps = self.run.data.steps_per_epoch
        batch = batch if steps is None else min(batch, steps - 1)
        self.stop_if_asked(self.call("on_batch_end", epoch=self.epoch, batch=batch, logs=logs))


def hook_callback(run: Run, split: str = "validation") -> HookCallback:
    """The callback for `run`; `split` names what its evaluations (``on_test_end``) run on."""
    return (BatchHookCallback if needs_every_batch(run.plugins) else HookCallback)(run, split)
