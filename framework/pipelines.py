"""The tf.data pipelines a run trains and evaluates on, built from checked `Arrays`.

`make_data` turns a dataset's arrays into batched, shuffled, prefetched pipelines with the
tutorial's preprocessing: integer images scaled to [0, 1] as float32, and a channel axis added
to single-channel images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from framework.datasets import Arrays, check_arrays
from framework.errors import DataError

PREFETCH_BATCHES = 2


@dataclass
class Data:
    """The pipelines a run trains and evaluates on, and what models need to know about them."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    sizes: dict[str, int]
    class_names: list[str] | None
    source: str
    epoch: tf.Variable  # the training epoch, set by the run; picks each epoch's shuffle order
    batch_size: int

    @property
    def steps_per_epoch(self) -> int:
        """Training batches per epoch, the last partial one included."""
        return -(-self.sizes["train"] // self.batch_size)


def _prepare(x: np.ndarray) -> Callable[[tf.Tensor], tf.Tensor]:
    """The per-batch preprocessing for inputs like `x`: scale integers to [0, 1], add a channel axis."""
    scale = 1 / 255 if np.issubdtype(x.dtype, np.integer) else 1.0
    add_channel = x.ndim == 3

    def prepare(batch: tf.Tensor) -> tf.Tensor:
        batch = tf.cast(batch, tf.float32) * scale
        return batch[..., tf.newaxis] if add_channel else batch

    return prepare


def epoch_order(count: int, seed: int, epoch: tf.Variable) -> tf.data.Dataset:
    """A permutation of ``range(count)`` that depends only on (`seed`, the value of `epoch`).

    The permutation is drawn when each epoch's iterator starts, from `epoch` as it is then, so
    a resumed run shuffles epoch N exactly as an uninterrupted run does.
    """

    def permutation(_: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
        return tf.data.Dataset.from_tensor_slices(tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=key))

    return tf.data.Dataset.from_tensors(0).flat_map(permutation).apply(tf.data.experimental.assert_cardinality(count))


def pipeline(x: np.ndarray, y: np.ndarray, batch_size: int, order: tf.data.Dataset | None = None, weights: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches of (inputs, labels) or, with `weights`, (inputs, labels, sample weights) gathered
    from in-memory arrays in `order` (default: as stored).

    The last partial batch is kept. Under a multi-worker strategy each worker keeps its share
    of every batch (``AutoShardPolicy.DATA``: the arrays are in memory, there are no files to
    split among workers). tf.data's autotuner is off: destroying an iterator (every
    epoch does) otherwise waits for the autotune thread's next wake-up, which holds epochs back
    by seconds (a 6 s job ended at the 5.1 s or 10.2 s marks).
    """
    inputs, labels, prepare = tf.constant(x), tf.constant(y.astype(np.int32)), _prepare(x)
    extra = () if weights is None else (tf.constant(weights.astype(np.float32)),)
    order = order if order is not None else tf.data.Dataset.range(len(x))
    batches = order.batch(batch_size).map(lambda i: (prepare(tf.gather(inputs, i)), tf.gather(labels, i), *(tf.gather(w, i) for w in extra)))
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.prefetch(PREFETCH_BATCHES).with_options(options)


def make_data(arrays: Arrays, batch_size: int, shuffle: bool, seed: int | None, validation_split: float, limit: int | None = None) -> Data:
    """Checked pipelines for training (shuffled), validation (the last samples) and test.

    `limit` keeps only the first samples of the training split (before validation is cut).
    """
    num_classes = check_arrays(arrays)
    x, y = arrays.x_train[:limit], arrays.y_train[:limit]
    held_out = int(len(x) * validation_split)
    if validation_split and not 0 < held_out < len(x):
        raise DataError(f"{arrays.source}: validation_split {validation_split} leaves {held_out} of {len(x)} samples for validation")
    cut = len(x) - held_out
    w = arrays.sample_weight_train[:limit] if arrays.sample_weight_train is not None else None
    w_train, w_validation = (None, None) if w is None else (w[:cut], w[cut:])
    shape = (*x.shape[1:], 1) if x.ndim == 3 else tuple(x.shape[1:])
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    seed = seed if seed is not None else int(np.random.default_rng().integers(2**31))
    return Data(
        train=pipeline(x[:cut], y[:cut], batch_size, epoch_order(cut, seed, epoch) if shuffle else None, w_train),
        validation=pipeline(x[cut:], y[cut:], batch_size, weights=w_validation) if held_out else None,
        test=pipeline(arrays.x_test, arrays.y_test, batch_size, weights=arrays.sample_weight_test),
        input_shape=shape,
        num_classes=num_classes,
        sizes={"train": cut, "validation": held_out, "test": len(arrays.x_test)},
        class_names=arrays.class_names,
        source=arrays.source,
        epoch=epoch,
        batch_size=batch_size,
    )
