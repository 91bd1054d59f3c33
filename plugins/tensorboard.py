"""TensorBoard: scalars, optional weight histograms and the recipe, written with tf.summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from framework import enable_batch_hook, hookimpl

from framework.recipe import recipe_to_yaml
from framework.schema import require

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


class TensorBoard:
    """Writes event files to ``<run>/tensorboard`` (view with ``tensorboard --logdir runs``).

    Every epoch: each entry of the epoch logs as a scalar (``train/loss``, ``val/loss``,
    ``test/accuracy`` ...) and, with `histograms`, each weight as a histogram. With
    `every_n_batches`, the running training metrics every N batches too (a host sync per step).
    The resolved recipe is stored as text. Needs no tensorboard package to write.
    """

    name = "tensorboard"
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, every_n_batches: int = 0, histograms: bool = False) -> None:
        require(every_n_batches=(every_n_batches, every_n_batches >= 0, "0 (off) or positive"))
        self.every_n_batches, self.histograms = every_n_batches, histograms
        self.writer: tf.summary.SummaryWriter | None = None
        self.steps_per_epoch = 0
        if every_n_batches:
            enable_batch_hook(self, self.log_batch)

    @staticmethod
    def tag(key: str) -> str:
        for prefix in ("val", "test"):
            if key.startswith(prefix + "_"):
                return f"{prefix}/{key[len(prefix) + 1:]}"
        return f"train/{key}"

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(run.directory / LOG_DIR))
        self.steps_per_epoch = run.data.steps_per_epoch
        with self.writer.as_default():
            write("recipe", "```\n" + recipe_to_yaml(run.recipe) + "```", 0, "text")

    def log_batch(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        if (batch + 1) % self.every_n_batches == 0:
            with self.writer.as_default():
                for key, value in logs.items():
                    write(f"batch/{key}", np.float32(value), epoch * self.steps_per_epoch + batch + 1, "scalars")

    @hookimpl(trylast=True)  # every entry other plugins add, whatever the recipe order
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        with self.writer.as_default():
            for key, value in logs.items():
                write(self.tag(key), np.float32(value), epoch + 1, "scalars")
            if self.histograms:
                for variable in trainer.network.weights:
                    write(variable.path, histogram(variable.numpy()), epoch + 1, "histograms")
        self.writer.flush()

    @hookimpl
    def on_train_end(self) -> None:
        self.writer.close()
