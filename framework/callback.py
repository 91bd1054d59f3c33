"""The one Keras callback that calls plugin hooks from Keras's training loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from framework.run import Run


class HookCallback(keras.callbacks.Callback):
    """Calls the run, epoch and evaluation hooks of `run`'s plugins.

    It defines no per-batch method, so Keras does no per-batch work for it; `hook_callback`
    returns the `BatchHookCallback` subclass only when a plugin implements `on_batch_end`.
    """

    def __init__(self, run: Run, split: str) -> None:
        super().__init__()
        self.run = run
        self.split = split
        self.epoch = 0

    def stop_if_asked(self, reasons: list[str | None]) -> None:
        """Stops training with the first non-empty reason a hook returned."""
        reason = next((r for r in reasons if r), None)
        if reason:
            self.run.stop_reason = self.run.stop_reason or reason
            self.model.stop_training = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.run.hook.on_train_begin(trainer=self.model, run=self.run)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self.run.hook.on_epoch_begin(trainer=self.model, run=self.run, epoch=epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.stop_if_asked(self.run.hook.on_epoch_end(trainer=self.model, run=self.run, epoch=epoch, logs=logs))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.run.hook.on_train_end(trainer=self.model, run=self.run, logs=logs or {})

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.run.hook.on_evaluate_end(trainer=self.model, run=self.run, split=self.split, logs=logs or {})


class BatchHookCallback(HookCallback):
    """`HookCallback` that also calls ``on_batch_end`` after every training step."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        reasons = self.run.hook.on_batch_end(trainer=self.model, run=self.run, epoch=self.epoch, batch=batch, logs=logs)
        self.stop_if_asked(reasons)


def hook_callback(run: Run, split: str = "validation") -> HookCallback:
    """The callback for `run`; `split` names what its evaluations (``on_test_end``) run on."""
    wants_batches = bool(run.hook.on_batch_end.get_hookimpls())
    return (BatchHookCallback if wants_batches else HookCallback)(run, split)
