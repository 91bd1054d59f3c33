"""The Keras callbacks between a run and Keras's training loop: the one that calls plugin hooks, and the
core's own end of each epoch (history and resumable state), which comes after every other callback.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

import keras

from framework.recipe.sections import parse_interval
from framework.runtime.distribute import any_worker

if TYPE_CHECKING:
    from framework.training.run import Run


class EpochRecorder(keras.callbacks.Callback):
    """Ends each epoch for the core, after the plugins and the recipe's Keras callbacks: adds the
    epoch's logs to the history (with what both added, e.g. ``ReduceLROnPlateau``'s
    ``learning_rate``) and saves the resumable state (with what they changed, e.g. the learning
    rate), so that any run can be resumed exactly at an epoch boundary. When a run resumes
    mid-epoch, it puts back the epoch's running metrics as they were at the saved step.
    """

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.run.first_step(epoch) and self.run.epoch_metrics is not None:  # Keras has just reset them
            for variable, value in zip(self.model.metrics_variables, self.run.epoch_metrics, strict=True):
                variable.assign(value)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.run.record_epoch(epoch, logs or {})
        self.save(epoch + 1, 0)

    def save(self, epochs_done: int, steps_done: int) -> None:
        """Saves the resumable state at this position (when the run has a directory); `TrainingFailed` if it cannot be written."""
        from framework.training.state import save_state

        if self.run.directory is not None:
            save_state(self.run, epochs_done, steps_done)


class StepCheckpointer(EpochRecorder):
    """`EpochRecorder` that also saves the state inside epochs, every `training.checkpoint_every` steps or minutes.

    A save happens at the start of a compiled call (every ``steps_per_execution`` steps), the
    first at or past each mark: the calls before it are complete, so the saved step is exactly
    the one the data position is put back to. Steps are counted by the optimizer's
    ``iterations`` (earlier sessions included). Under ``multi_worker`` the workers agree on a
    time-based save (every worker must save at the same step). A save is skipped, with a
    warning, while the weights are not finite.
    """

    def __init__(self, run: Run, unit: str, every: float) -> None:
        super().__init__(run)
        self.unit, self.every = unit, every
        self.saved_step: int | None = None  # the optimizer step of the last save, or of this session's start
        self.saved_at = time.monotonic()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = int(self.model.optimizer.iterations.numpy())
        if self.saved_step is None:
            self.saved_step = step
        done = batch + self.run.first_step(self.run.epoch)  # steps of this epoch already trained
        if done and self.due(step):
            if self.weights_finite(done):
                self.save(self.run.epoch, done)
            else:
                self.restart_interval()

    def weights_finite(self, done: int) -> bool:
        """Whether the weights are finite (on every worker); if not, warns that the last state is kept.

        ``nan_guard`` with ``every_batch: false`` stops a diverged run only at the epoch's end:
        until then a save inside the epoch would replace the last resumable state by NaN weights.
        """
        from framework.training.state import finite_weights

        if not any_worker(self.run.strategy, not finite_weights(self.model)):
            return True
        warnings.warn(f"the weights are not finite at epoch {self.run.epoch + 1}, step {done}: checkpoint_every keeps the last saved state", stacklevel=2)
        return False

    def restart_interval(self) -> None:
        """Counts the next interval from now (after a save, or a skipped one)."""
        self.saved_step = int(self.model.optimizer.iterations.numpy())
        self.saved_at = time.monotonic()

    def due(self, step: int) -> bool:
        """Whether a mark has passed since the last save (`step`: the optimizer's steps so far)."""
        if self.unit == "steps":
            return step // self.every > self.saved_step // self.every
        return any_worker(self.run.strategy, time.monotonic() - self.saved_at >= 60 * self.every)

    def save(self, epochs_done: int, steps_done: int) -> None:
        """Saves the state (see `EpochRecorder.save`) and restarts the interval."""
        super().save(epochs_done, steps_done)
        self.restart_interval()


def state_callback(run: Run) -> EpochRecorder:
    """The core's last callback: a `StepCheckpointer` when the recipe sets `training.checkpoint_every`, else an `EpochRecorder`."""
    interval = parse_interval(run.recipe.training.checkpoint_every)
    return EpochRecorder(run) if interval is None else StepCheckpointer(run, *interval)
