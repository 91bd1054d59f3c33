"""Each epoch's training order and augmentation draws, fixed by (seed, epoch, batch), so a resumed run sees the same
batches as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

STEPS_PER_EPOCH_BOUND = 2**20  # batch indices of one epoch stay below this in the generators' step counter


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


def random_generators(layers: list[Any] | dict[str, list[Any]] | tuple[list[Any], ...]) -> list[Any]:
    """The `keras.random.SeedGenerator` of each random layer among the `framework.data.layers.Layer`\\ s of
    `dataset.augment` (one list, or one per input)."""
    import keras

    lists = (
        list(layers.values()) if isinstance(layers, dict) else list(layers) if isinstance(layers, tuple) else [layers]
    )
    found = (getattr(layer.keras_layer, "generator", None) for chosen in lists for layer in chosen)
    return [generator for generator in found if isinstance(generator, keras.random.SeedGenerator)]


def seeded_batches(generators: list[Any], seed: int, epoch: tf.Variable) -> Callable[[tf.Tensor], None]:
    """A function of a batch's index in its epoch that sets the state of every augmentation layer's random generator
    from (`seed`, the layer's place, `epoch`, the index) before that batch is augmented.

    Keras's random layers draw from their `SeedGenerator`'s state, which advances with every
    call; set per batch, their draws depend only on which batch of which epoch it is, so a run
    resumed inside an epoch (which reads and skips the batches before its step) augments every
    batch as the uninterrupted run did, whatever the prefetching read ahead.
    """

    def reseed(index: tf.Tensor) -> None:
        step = epoch.read_value() * STEPS_PER_EPOCH_BOUND + tf.cast(index, tf.int64)
        for place, generator in enumerate(generators):
            state = tf.stack([tf.constant(seed + place, tf.int64), step])
            generator.state.assign(tf.cast(state % 2**32, generator.state.dtype))

    return reseed
