"""Resumable training state: network, optimizer (slots included), epoch, history and plugin states.

The Trainer (its network and any variables a subclass adds) and the optimizer go into a
tf.train.Checkpoint; the epoch count, the history rows and the
plugins' ``state_dict()``s into ``progress.json`` beside it. Resuming is at epoch boundaries:
the state is saved when an epoch ends, and a resumed run redoes the epoch that was cut short
(with the same shuffle order, which depends only on the seed and the epoch).

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

from framework.errors import TapelineError, TrainingFailed
from framework.files import UMASK

if TYPE_CHECKING:  # TensorFlow is imported when a state is written or read, not to check a run directory
    import tensorflow as tf

    from framework.run import Run
    from framework.trainer import Trainer

STATE_DIR = "state"
PREFIX = "checkpoint"
PROGRESS = "progress.json"


def history_row(epoch: int, logs: dict[str, float]) -> dict[str, float]:
    """The history row of `epoch` (from 0): ``{"epoch": epoch + 1, **logs}``."""
    return {"epoch": epoch + 1, **logs}


def _checkpoint(trainer: Trainer) -> tf.train.Checkpoint:
    import tensorflow as tf

    # The Trainer itself, so a subclass's own variables and models (a GAN's discriminator) are saved with the network
    return tf.train.Checkpoint(trainer=trainer, optimizer=trainer.optimizer)


def save_state(run: Run, epochs_done: int) -> Path:
    """Writes the state after `epochs_done` epochs (their rows in ``run.history``); returns its folder.

    There is a complete state at every moment: ``state/``, or ``state.old/`` while the new one
    is being swapped in. A failed write raises `TrainingFailed` and leaves the last state.
    """
    final, old = run.directory / STATE_DIR, run.directory / f"{STATE_DIR}.old"
    for stale in run.directory.glob(".state.*"):  # staging folders of writes that were cut short
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=run.directory, prefix=".state."))
    try:
        staging.chmod(0o777 & ~UMASK)  # mkdtemp makes folders private to their owner
        _checkpoint(run.trainer).write(str(staging / PREFIX))
        progress = {"epochs_done": epochs_done, "history": run.history, "plugins": run.plugin_states()}
        (staging / PROGRESS).write_text(json.dumps(progress) + "\n")
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrainingFailed(f"cannot write the training state in '{run.directory}': {error.strerror or error}; the previous state is intact") from error
    if final.exists():  # only then is state.old redundant; after a cut-short swap it is the only state
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def state_folder(run_directory: Path) -> Path:
    """The newest complete state: ``state/``, or ``state.old/`` left by a crash between the renames."""
    for folder in (run_directory / STATE_DIR, run_directory / f"{STATE_DIR}.old"):
        if (folder / PROGRESS).is_file():
            return folder
    raise TapelineError(f"'{run_directory}' has no saved training state to resume from (every run writes it at its epoch ends)")


def read_progress(run_directory: Path) -> dict[str, Any]:
    """The progress of the newest complete state (epochs_done, history, plugins), without loading the network."""
    return json.loads((state_folder(run_directory) / PROGRESS).read_text())


def restore_state(trainer: Trainer, run_directory: Path) -> dict[str, Any]:
    """Loads the newest complete state into `trainer`; returns its progress (epochs_done, history, plugins)."""
    folder = state_folder(run_directory)
    trainer.optimizer.build(trainer.trainable_variables)
    _checkpoint(trainer).read(str(folder / PREFIX)).assert_consumed()
    return json.loads((folder / PROGRESS).read_text())
