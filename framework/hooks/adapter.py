"""The one place plugin hooks are fired (they are specified in `framework.hooks.specs`).

`Hooks` fires every hook of a run's plugins: the training, epoch, batch and evaluation hooks
from `HookCallback`, the Keras callback between Keras's ``fit`` loop and the plugins, and
``on_train_end``, ``on_exception`` and the ``on_evaluate_end`` of a one-pass prediction from
the run's lifecycle (`framework.training.lifecycle`, `framework.training.run`), which are not
Keras events. Hooks run in the Python loop between compiled calls, never inside them. A
failing plugin is named with its hook (`PluginError`); ``on_exception`` never raises.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras
import pluggy

from framework.errors import PluginError, error_summary
from framework.hooks.manager import batch_interval
from framework.runtime.distribute import any_worker

if TYPE_CHECKING:
    import tensorflow as tf

    from framework.hooks.context import RunContext
    from framework.hooks.progress import Progress


def plugin_in_traceback(error: BaseException, plugins: pluggy.PluginManager) -> str:
    """The name of the innermost registered plugin whose method is on `error`'s traceback."""
    names = {id(p): plugins.get_name(p) for p in plugins.get_plugins()}
    owners = [names.get(id(frame.f_locals.get("self"))) for frame, _ in traceback.walk_tb(error.__traceback__)]
    return next((name for name in reversed(owners) if name), "?")


@dataclass
class Hooks:
    """Fires the hooks of `plugins` with keyword arguments, ``trainer`` and ``run`` (the `RunContext`) first.

    Attributes:
        plugins: the run's plugins, in calling order.
        context: what hooks get as ``run``; its ``trainer`` is what they get as ``trainer``.
        progress: the loop's progress, which the callback keeps current (epoch, stop reason).
        strategy: the run's strategy; under ``multi_worker`` every worker stops when one asks.
        steps_per_epoch: training batches per epoch (None when unknown), to clip batch indices.
    """

    plugins: pluggy.PluginManager
    context: RunContext
    progress: Progress
    strategy: tf.distribute.Strategy
    steps_per_epoch: int | None

    def call(self, hook: str, **arguments: Any) -> list[Any]:
        """Calls `hook` of every plugin; returns their results (None results left out).

        Raises:
            PluginError: an implementation raised; names the plugin and the hook.
        """
        try:
            return getattr(self.plugins.hook, hook)(trainer=self.context.trainer, run=self.context, **arguments)
        except PluginError:
            raise
        except Exception as error:
            raise PluginError(plugin_in_traceback(error, self.plugins), hook, error) from error

    def callback(self, split: str = "validation") -> HookCallback:
        """The Keras callback for ``fit`` or ``evaluate``; `split` names what its evaluations (``on_test_end``) run on.

        A `BatchHookCallback` when a plugin implements ``on_batch_end``, else a `HookCallback`,
        which has no batch method at all, so Keras does no per-batch work for it.
        """
        return (HookCallback if batch_interval(self.plugins) is None else BatchHookCallback)(self, split)

    def evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        """Fires ``on_evaluate_end`` for an evaluation that did not run through Keras's ``evaluate``."""
        self.call("on_evaluate_end", split=split, logs=logs)

    def train_end(self, logs: dict[str, float]) -> None:
        """Fires ``on_train_end`` with the last epoch's `logs`, once the run's files are written."""
        self.call("on_train_end", logs=logs)

    def exception(self, error: BaseException) -> None:
        """Fires every plugin's ``on_exception`` once, in calling order; what one raises is reported on stderr
        and the next is still called. Never raises."""
        arguments = {"trainer": self.context.trainer, "run": self.context, "error": error}
        for impl in reversed(self.plugins.hook.on_exception.get_hookimpls()):  # pluggy's calling order
            try:
                impl.function(
                    *(arguments[name] for name in impl.argnames),
                    **{name: arguments[name] for name in impl.kwargnames if name in arguments},
                )
            except Exception as raised:
                name = self.plugins.get_name(impl.plugin)
                print(
                    f"tapeline: warning: plugin {name!r} failed in on_exception: {error_summary(raised)}",
                    file=sys.stderr,
                )

    def stop_if_asked(self, trainer: keras.Model, reasons: list[str | None]) -> None:
        """Stops training with the first reason asked for (``run.request_stop``, then the hooks' returns),
        on every worker if one asks."""
        reason = self.progress.stop_request or next((r for r in reasons if r), None)
        if any_worker(self.strategy, reason is not None):
            self.progress.stop_reason = self.progress.stop_reason or reason or "another worker stopped training"
            trainer.stop_training = True


class HookCallback(keras.callbacks.Callback):
    """Fires the training, epoch and evaluation hooks from Keras's loop (``on_train_end`` comes from the lifecycle).

    It keeps `Progress.epoch` current. It defines no per-batch method, so Keras does no
    per-batch work for it; `Hooks.callback` returns the `BatchHookCallback` subclass only when
    a plugin implements ``on_batch_end``.
    """

    def __init__(self, hooks: Hooks, split: str) -> None:
        super().__init__()
        self.hooks = hooks
        self.split = split
        self.began = False  # a run resumed mid-epoch calls `fit` twice; the plugins' training begins once

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.began:
            self.began = True
            self.hooks.call("on_train_begin")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.hooks.progress.epoch = epoch
        self.hooks.call("on_epoch_begin", epoch=epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.hooks.stop_if_asked(self.model, self.hooks.call("on_epoch_end", epoch=epoch, logs=logs))

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.hooks.call("on_evaluate_end", split=self.split, logs=logs or {})


class BatchHookCallback(HookCallback):
    """`HookCallback` that also fires ``on_batch_end`` after every compiled call of training steps."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Keras 3.15 reports the last step of a compiled call as `first + steps_per_execution - 1`,
        # past the epoch's end on its last call (2, 5, 8 for 8 batches in calls of 3); a resumed epoch starts at its
        # saved step
        progress, steps = self.hooks.progress, self.hooks.steps_per_epoch
        batch += progress.first_step(progress.epoch)
        batch = batch if steps is None else min(batch, steps - 1)
        self.hooks.stop_if_asked(
            self.model, self.hooks.call("on_batch_end", epoch=progress.epoch, batch=batch, logs=logs)
        )
