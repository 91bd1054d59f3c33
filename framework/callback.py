"""The Keras callbacks between a run and Keras's training loop: the one that calls plugin hooks, and the
core's own end of each epoch (history and resumable state), which comes after every other callback.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

import keras

from framework.distribute import any_worker
from framework.errors import PluginError
from framework.hooks import call_hook
from framework.plugin_manager import needs_every_batch

if TYPE_CHECKING:
    from framework.run import Run


def keras_callback_error(error: Exception, callbacks: list[keras.callbacks.Callback]) -> PluginError | None:
    """`error` as a `PluginError` naming the recipe's Keras callback and method it was raised in, if one was."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    owner = next((frame for frame in reversed(frames) if any(frame.f_locals.get("self") is c for c in callbacks)), None)
    if owner is None or isinstance(error, PluginError):
        return None
    callback = type(owner.f_locals["self"])
    return PluginError(f"{callback.__module__}:{callback.__qualname__}", owner.f_code.co_name, error)


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
        # past the epoch's end on its last call (2, 5, 8 for 8 batches in calls of 3)
        batch = min(batch, self.run.data.steps_per_epoch - 1)
        self.stop_if_asked(self.call("on_batch_end", epoch=self.epoch, batch=batch, logs=logs))


class EpochRecorder(keras.callbacks.Callback):
    """Ends each epoch for the core, after the plugins and the recipe's Keras callbacks: adds the
    epoch's logs to the history (with what both added, e.g. ``ReduceLROnPlateau``'s
    ``learning_rate``) and saves the resumable state (with what they changed, e.g. the learning
    rate), so that any run can be resumed exactly at an epoch boundary.
    """

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from framework.state import save_state  # imports TensorFlow's checkpointing when a run trains

        self.run.record_epoch(epoch, logs or {})
        if self.run.directory is not None:
            save_state(self.run, epoch + 1)


def hook_callback(run: Run, split: str = "validation") -> HookCallback:
    """The callback for `run`; `split` names what its evaluations (``on_test_end``) run on."""
    return (BatchHookCallback if needs_every_batch(run.plugins) else HookCallback)(run, split)
