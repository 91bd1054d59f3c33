"""The core's own Keras callbacks: the divergence check at each epoch's end, before every other
callback; each epoch's start (its data order, the running metrics of a resumed epoch) and end
(history and resumable state), after the plugins' hook callback and the recipe's Keras callbacks;
and the resumable state inside epochs (`training.checkpoint_every`, and on SIGTERM: `preemption`).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from framework.errors import TrainingFailed
from framework.hooks.manager import plugin_states
from framework.runtime.distribute import any_worker
from framework.training.layout import LAYOUT
from framework.training.preemption import Preempted, PreemptionWatch
from framework.training.run_directory import write_history
from framework.training.state import finite_weights, save_state

if TYPE_CHECKING:
    import pluggy
    import tensorflow as tf

    from framework.hooks.progress import Progress


class DivergenceGuard(keras.callbacks.Callback):
    """Fails a run whose loss or weights are not finite at an epoch's end, first of all callbacks.

    Keras calls callbacks in order, so no plugin, Keras callback or the core's recorder sees a
    diverged epoch: nothing saves its weights (checkpoints, the state, ``model.weights.h5``),
    and the last finite state stays resumable. The weights themselves are checked, not only
    the loss: fused kernels can turn NaN activations into finite numbers while the weights
    are NaN. ``nan_guard`` stops such a run earlier, at its first non-finite batch loss.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        bad = [f"{key} is {value}" for key, value in (logs or {}).items() if "loss" in key and not math.isfinite(value)]
        if not finite_weights(self.model):
            bad.append("the weights are not finite")
        if bad:
            step = int(self.model.optimizer.iterations.numpy())
            raise TrainingFailed(
                f"training diverged in epoch {epoch + 1} (step {step}): {'; '.join(bad)}; nothing was saved at this "
                "epoch's end, and the last saved state (from before it, if any) is kept; lower the learning rate, or "
                "add the nan_guard plugin to stop at the first non-finite batch"
            )


@dataclass(frozen=True)
class Recording:
    """What the core's callbacks record and where.

    Attributes:
        directory: the run directory (state and history files), or None to write nothing.
        progress: the loop's progress (history, the step a resumed epoch starts at).
        plugins: the run's plugins, whose `StatefulPlugin` states are saved with the state.
        data_epoch: the pipelines' epoch variable, which picks each epoch's shuffle order.
        strategy: the run's strategy (workers agree on time-based saves and on skipped ones).
        preemption: whether SIGTERM asked the run to save and stop.
        layout: the replicas, global batch and file shards the run trains on (saved with the state).
    """

    directory: Path | None
    progress: Progress
    plugins: pluggy.PluginManager
    data_epoch: tf.Variable
    strategy: tf.distribute.Strategy
    preemption: PreemptionWatch
    layout: dict[str, int]


class EpochRecorder(keras.callbacks.Callback):
    """Starts and ends each epoch for the core, after the plugins and the recipe's Keras callbacks.

    At an epoch's start it sets the data's epoch (before the epoch's iterator starts: it picks
    the shuffle order) and, when a run resumes mid-epoch, puts back the epoch's running metrics
    as they were at the saved step. At its end it adds the epoch's logs to the history (with
    what plugins and Keras callbacks added, e.g. ``ReduceLROnPlateau``'s ``learning_rate``) and
    saves the resumable state (with what they changed), so that any run can be resumed exactly
    at an epoch boundary. At the start of a compiled call after a SIGTERM it saves the state at
    that step and raises `Preempted`.
    """

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self.recording = recording

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        progress = self.recording.progress
        self.recording.data_epoch.assign(epoch)
        if progress.first_step(epoch) and progress.epoch_metrics is not None:  # Keras has just reset them
            for variable, value in zip(self.model.metrics_variables, progress.epoch_metrics, strict=True):
                variable.assign(value)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.recording.preemption.stop_here():
            self.preempt(batch)

    def steps_done(self, batch: int) -> int:
        """The steps of the running epoch already trained when its batch `batch` (of this ``fit`` call) begins."""
        progress = self.recording.progress
        return batch + progress.first_step(progress.epoch)

    def preempt(self, batch: int) -> None:
        """Saves the state at this step (the calls before it are complete; none when the weights are not finite or
        the epoch's state was just saved) and raises `Preempted`."""
        progress = self.recording.progress
        done = self.steps_done(batch)
        if done and self.weights_finite(done):
            self.save(progress.epoch, done)
        raise Preempted(f"preempted by SIGTERM in epoch {progress.epoch + 1} after {done} step(s) of it")

    def weights_finite(self, done: int) -> bool:
        """Whether the weights are finite (on every worker); if not, warns that the last state is kept.

        ``nan_guard`` with ``every_batch: false`` stops a diverged run only at the epoch's end:
        until then a save inside the epoch would replace the last resumable state by NaN weights.
        """
        if not any_worker(self.recording.strategy, not finite_weights(self.model)):
            return True
        epoch = self.recording.progress.epoch
        warnings.warn(
            f"the weights are not finite at epoch {epoch + 1}, step {done}: the last saved state is kept",
            stacklevel=2,
        )
        return False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.recording.progress.record_epoch(epoch, logs or {})
        if self.recording.directory is not None:
            write_history(self.recording.directory, self.recording.progress.history)
        self.save(epoch + 1, 0)

    def save(self, epochs_done: int, steps_done: int) -> None:
        """Saves the resumable state at this position (when the run has a directory); `TrainingFailed` if it cannot be
        written."""
        recording = self.recording
        if recording.directory is not None:
            state = recording.progress.state_dict(epochs_done, steps_done) | {
                "plugins": plugin_states(recording.plugins),
                LAYOUT: recording.layout,
            }
            save_state(recording.directory, self.model, state)


class StepCheckpointer(EpochRecorder):
    """`EpochRecorder` that also saves the state inside epochs, every `training.checkpoint_every` steps or minutes.

    A save happens at the start of a compiled call (every ``steps_per_execution`` steps), the
    first at or past each mark: the calls before it are complete, so the saved step is exactly
    the one the data position is put back to. Steps are counted by the optimizer's
    ``iterations`` (earlier sessions included). Under ``multi_worker`` the workers agree on a
    time-based save (every worker must save at the same step). A save is skipped, with a
    warning, while the weights are not finite.
    """

    def __init__(self, recording: Recording, unit: str, every: float) -> None:
        super().__init__(recording)
        self.unit, self.every = unit, every
        self.saved_step: int | None = None  # the optimizer step of the last save, or of this session's start
        self.saved_at = time.monotonic()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_train_batch_begin(batch, logs)
        step = int(self.model.optimizer.iterations.numpy())
        if self.saved_step is None:
            self.saved_step = step
        done = self.steps_done(batch)
        if done and self.due(step):
            if self.weights_finite(done):
                self.save(self.recording.progress.epoch, done)
            else:
                self.restart_interval()

    def restart_interval(self) -> None:
        """Counts the next interval from now (after a save, or a skipped one)."""
        self.saved_step = int(self.model.optimizer.iterations.numpy())
        self.saved_at = time.monotonic()

    def due(self, step: int) -> bool:
        """Whether a mark has passed since the last save (`step`: the optimizer's steps so far)."""
        if self.unit == "steps":
            return step // self.every > self.saved_step // self.every
        return any_worker(self.recording.strategy, time.monotonic() - self.saved_at >= 60 * self.every)

    def save(self, epochs_done: int, steps_done: int) -> None:
        """Saves the state (see `EpochRecorder.save`) and restarts the interval."""
        super().save(epochs_done, steps_done)
        self.restart_interval()


def recorder(recording: Recording, interval: tuple[str, float] | None) -> EpochRecorder:
    """The core's last callback: a `StepCheckpointer` for `interval` (unit, every; `training.checkpoint_every`), else an
    `EpochRecorder`."""
    return EpochRecorder(recording) if interval is None else StepCheckpointer(recording, *interval)
