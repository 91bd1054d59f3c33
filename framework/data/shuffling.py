"""Each epoch's training order, fixed by (seed, epoch), so a resumed run sees the same order as an uninterrupted one."""

from __future__ import annotations

import tensorflow as tf


def epoch_order(count: int, seed: int, epoch: tf.Variable) -> tf.data.Dataset:
    """A permutation of ``range(count)`` that depends only on (`seed`, the value of `epoch`).

    The permutation is drawn when each epoch's iterator starts, from `epoch` as it is then, so
    a resumed run shuffles epoch N exactly as an uninterrupted run does.
    """

    def permutation(_: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), epoch.read_value()])
        return tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=key)
        )

    return tf.data.Dataset.from_tensors(0).flat_map(permutation).apply(tf.data.experimental.assert_cardinality(count))


def epoch_shuffle(dataset: tf.data.Dataset, buffer: int, seed: int, epoch: tf.Variable) -> tf.data.Dataset:
    """`dataset` shuffled through a `buffer`-sample window, in an order fixed by (`seed`, `epoch`)."""

    def shuffled(_: tf.Tensor) -> tf.data.Dataset:
        # The op seed is a tensor; TensorFlow's get_seed compares (graph seed, op seed) with (0, 0) in
        # Python, which fails for a tensor when the graph seed is 0 (a recipe's `seed: 0`). This traced
        # function's graph gets a fixed seed of its own, so the order depends only on (seed, epoch).
        tf.compat.v1.get_default_graph().seed = 1
        return dataset.shuffle(
            buffer, seed=tf.constant(seed, tf.int64) * 1_000_003 + epoch.read_value(), reshuffle_each_iteration=False
        )

    return tf.data.Dataset.from_tensors(0).flat_map(shuffled)
