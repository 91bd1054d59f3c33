"""TensorBoard: scalars, optional weight histograms, the recipe, and HParams, written with tf.summary."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from framework import (
    enable_batch_hook,
    hookimpl,
    pip_install,
    recipe_params,
    recipe_to_yaml,
    require,
)

if TYPE_CHECKING:
    import tensorflow as tf

    from framework import RunContext, Trainer

LOG_DIR = "tensorboard"
HISTOGRAM_BINS = 30


def write(tag: str, value: np.ndarray | float | str, step: int, plugin: str) -> None:
    """One summary in the format TensorBoard's `plugin` (scalars, text, histograms) reads.

    Uses the raw `tf.summary.write`, so the tensorboard package is not needed to write logs.
    """
    import tensorflow as tf  # imported on use: listing plugins does not start TensorFlow
    from tensorflow.core.framework.summary_pb2 import SummaryMetadata

    metadata = SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    tf.summary.write(tag, tf.constant(value), step=step, metadata=metadata)


def histogram(values: np.ndarray) -> np.ndarray:
    """TensorBoard's histogram tensor: rows of (left edge, right edge, count)."""
    counts, edges = np.histogram(values.astype(np.float64).ravel(), bins=HISTOGRAM_BINS)
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def write_hparams(run: RunContext) -> None:
    """The HParams summary of `run`: its flattened recipe (``training.epochs`` ...) under the trial id ``<name>/<run
    folder>``.

    TensorBoard's HParams tab shows each run's values beside the last value of its scalars, so
    runs of different recipes can be compared. Needs the tensorboard package; without it a
    warning says how to install it, and the other summaries are written all the same.
    """
    try:
        from tensorboard.plugins.hparams import api as hp
    except ImportError:
        warnings.warn(
            "the tensorboard plugin writes no HParams summary without the tensorboard package: "
            f"{pip_install('tensorboard')} (or set `hparams: false`)",
            stacklevel=2,
        )
        return
    hp.hparams(recipe_params(run.recipe), trial_id=f"{run.recipe.name}/{run.directory.name}")


class TensorBoard:
    """Writes event files to ``<run>/tensorboard`` (view with ``tensorboard --logdir runs``).

    Every epoch: each entry of the epoch logs as a scalar (``train/loss``, ``val/loss``,
    ``test/accuracy`` ...) and, with `histograms`, each weight as a histogram. With
    `every_n_batches`, the running training metrics every N batches too (a host sync per step).
    The resolved recipe is stored as text and, with `hparams`, as HParams (see `write_hparams`;
    this one needs the tensorboard package); the final test metrics (from the evaluation plugin)
    are written at the last epoch's step. Scalars, text and histograms need no tensorboard package.
    """

    name = "tensorboard"
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook
    resume_may_change = ("every_n_batches", "histograms")

    def __init__(self, every_n_batches: int = 0, histograms: bool = False, hparams: bool = True) -> None:
        require(every_n_batches=(every_n_batches, every_n_batches >= 0, "0 (off) or positive"))
        self.every_n_batches, self.histograms, self.hparams = every_n_batches, histograms, hparams
        self.writer: tf.summary.SummaryWriter | None = None
        self.steps_per_epoch = 0
        self.written: set[str] = set()  # tags of the last epoch's scalars
        self.test: dict[str, float] = {}  # the last test evaluation's metrics
        if every_n_batches:
            enable_batch_hook(self, self.log_batch)

    @staticmethod
    def tag(key: str) -> str:
        for prefix in ("val", "test"):
            if key.startswith(prefix + "_"):
                return f"{prefix}/{key[len(prefix) + 1 :]}"
        return f"train/{key}"

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(run.directory / LOG_DIR))
        self.steps_per_epoch = run.data.steps_per_epoch
        with self.writer.as_default():
            write("recipe", "```\n" + recipe_to_yaml(run.recipe) + "```", 0, "text")
            if self.hparams:
                write_hparams(run)

    def log_batch(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        if (batch + 1) % self.every_n_batches == 0:
            with self.writer.as_default():
                for key, value in logs.items():
                    write(f"batch/{key}", np.float32(value), epoch * self.steps_per_epoch + batch + 1, "scalars")

    @hookimpl(trylast=True)  # every entry other plugins add, whatever the recipe order
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.written = {self.tag(key) for key in logs}
        with self.writer.as_default():
            for key, value in logs.items():
                write(self.tag(key), np.float32(value), epoch + 1, "scalars")
            if self.histograms:
                for variable in trainer.network.weights:
                    write(variable.path, histogram(variable.numpy()), epoch + 1, "histograms")
        self.writer.flush()

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test":
            self.test = dict(logs)

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        with self.writer.as_default():
            for key, value in self.test.items():
                if f"test/{key}" not in self.written:  # not in the last epoch's logs already
                    write(f"test/{key}", np.float32(value), len(run.history), "scalars")
        self.writer.close()
