"""Resumable training state: network, optimizer (slots included), running metrics, data position, history and plugin
states.

The Trainer (its network, the seed states of its random layers and any variables a subclass
adds), the optimizer and the running metrics of the epoch go into a tf.train.Checkpoint; the
data position (epochs done, steps done in the next epoch), the history rows and the plugins'
``state_dict()``s into ``progress.json`` beside it. The state is saved when an epoch ends and,
with `training.checkpoint_every`, inside epochs. A resumed run continues at the saved step:
the epoch's shuffle order depends only on the seed and the epoch, so skipping the batches
already trained on (a deterministic skip, reading them again) puts the data where it was.

The state lives in ``<run>/state/``. A new state is written into a temporary folder first and
then swapped in with renames, so a crash at any moment leaves either the old or the new state
complete: `restore_state` also looks at ``state.old`` left by a crash between the renames.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.errors import TapelineError, TrainingFailed
from framework.files import UMASK

if TYPE_CHECKING:  # TensorFlow is imported when a state is written or read, not to check a run directory
    import tensorflow as tf

    from framework.model.trainer import Trainer

STATE_DIR = "state"
PREFIX = "checkpoint"
PROGRESS = "progress.json"


def finite_weights(model: Any) -> bool:
    """Whether every weight of the Keras model `model` is finite (``get_weights``: its layers' weights, not the
    optimizer's slots or metrics)."""
    return all(np.isfinite(w).all() for w in model.get_weights())


def _checkpoint(trainer: Trainer) -> tf.train.Checkpoint:
    import tensorflow as tf

    # The Trainer itself, so a subclass's own variables and models (a GAN's discriminator) are saved with the network;
    # its variables as a list too, for the seed states of random layers (Dropout, RandomFlip), which TensorFlow's
    # object graph does not reach; and the epoch's running metrics, for a resume inside the epoch
    return tf.train.Checkpoint(
        trainer=trainer,
        optimizer=trainer.optimizer,
        variables=list(trainer.variables),
        metrics=list(trainer.metrics_variables),
    )


def save_state(directory: Path, trainer: Trainer, progress: dict[str, Any]) -> Path:
    """Writes the state of `trainer` with `progress` into `directory`; returns the state's folder.

    Args:
        directory: the run directory.
        trainer: the Trainer: its network, its own variables, the optimizer and the running metrics are saved.
        progress: JSON-serializable: ``epochs_done``, ``steps_done`` (of the next epoch),
            ``history`` (a row per epoch done) and ``plugins`` (each `StatefulPlugin`'s state).

    There is a complete state at every moment: ``state/``, or ``state.old/`` while the new one
    is being swapped in.

    Raises:
        TrainingFailed: the state cannot be written (the last state is left as it was).
    """
    final, old = directory / STATE_DIR, directory / f"{STATE_DIR}.old"
    for stale in directory.glob(".state.*"):  # staging folders of writes that were cut short
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".state."))
    try:
        staging.chmod(0o777 & ~UMASK)  # mkdtemp makes folders private to their owner
        _checkpoint(trainer).write(str(staging / PREFIX))
        (staging / PROGRESS).write_text(json.dumps(progress) + "\n")
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrainingFailed(
            f"cannot write the training state in '{directory}': {error.strerror or error}; the previous state is intact"
        ) from error
    if final.exists():  # only then is state.old redundant; after a cut-short swap it is the only state
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def complete_state(run_directory: Path) -> Path | None:
    """The newest complete state: ``state/``, or ``state.old/`` left by a crash between the renames; None if
    neither is complete."""
    folders = (run_directory / STATE_DIR, run_directory / f"{STATE_DIR}.old")
    return next((folder for folder in folders if (folder / PROGRESS).is_file()), None)


def state_folder(run_directory: Path) -> Path:
    """`complete_state`, or `TapelineError` saying the run has none."""
    folder = complete_state(run_directory)
    if folder is not None:
        return folder
    raise TapelineError(
        f"'{run_directory}' has no saved training state to resume from (every run writes it at its epoch ends)"
    )


def read_progress(run_directory: Path) -> dict[str, Any]:
    """The progress of the newest complete state (epochs_done, steps_done, history, plugins), without loading the
    network."""
    return {"steps_done": 0} | json.loads(
        (state_folder(run_directory) / PROGRESS).read_text()
    )  # older states: epoch ends only


def restore_state(trainer: Trainer, run_directory: Path) -> dict[str, Any]:
    """Loads the newest complete state into `trainer` (its running metrics included); returns its
    progress (epochs_done, steps_done, history, plugins).

    `trainer` must have taken a step, as `framework.training.first_step.check_first_step` does, so that its
    compiled metrics exist. Raises `TapelineError` when the state does not fit the Trainer.
    """
    folder = state_folder(run_directory)
    trainer.build_optimizer()
    try:
        _checkpoint(trainer).read(str(folder / PREFIX)).assert_consumed()
    except AssertionError as error:
        raise TapelineError(
            f"the saved state in '{folder}' does not fit this run's network, optimizer and metrics "
            f"(written for another recipe or by an older Tapeline): {str(error).splitlines()[0]}"
        ) from None
    return read_progress(run_directory)
