"""Resumable training state: network, optimizer (slots included) and epoch, in a tf.train.Checkpoint.

The state lives in ``<run>/state/``. A new state is written into a temporary folder first and
then swapped in with renames, so a crash at any moment leaves either the old or the new state
complete: `restore_state` also looks at ``state.old`` left by a crash between the renames.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from framework.errors import TapelineError
from framework.files import UMASK
from framework.trainer import Trainer

STATE_DIR = "state"
PREFIX = "checkpoint"
PROGRESS = "progress.json"


def _checkpoint(trainer: Trainer, epoch: tf.Variable) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(network=trainer.network, optimizer=trainer.optimizer, epoch=epoch)


def save_state(trainer: Trainer, run_directory: Path, epochs_done: int) -> Path:
    """Writes the state after `epochs_done` completed epochs; returns the state folder."""
    final = run_directory / STATE_DIR
    staging = Path(tempfile.mkdtemp(dir=run_directory, prefix=".state."))
    staging.chmod(0o777 & ~UMASK)  # mkdtemp makes folders private to their owner
    _checkpoint(trainer, tf.Variable(epochs_done, dtype=tf.int64)).write(str(staging / PREFIX))
    (staging / PROGRESS).write_text(json.dumps({"epochs_done": epochs_done}) + "\n")
    old = run_directory / f"{STATE_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def restore_state(trainer: Trainer, run_directory: Path) -> int:
    """Loads the newest complete state into `trainer`; returns the number of epochs it had done."""
    for folder in (run_directory / STATE_DIR, run_directory / f"{STATE_DIR}.old"):
        if (folder / PROGRESS).is_file():
            trainer.optimizer.build(trainer.trainable_variables)
            epoch = tf.Variable(0, dtype=tf.int64)
            _checkpoint(trainer, epoch).read(str(folder / PREFIX)).assert_consumed()
            return int(epoch.numpy())
    raise TapelineError(f"'{run_directory}' has no saved training state to resume from (the checkpoint plugin writes it)")
