"""Tiny generated datasets and models for tests of tasks, of several inputs and outputs, and TFRecord files."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from framework import Trainer
from framework.data.arrays import Arrays
from framework.data.catalog import synthetic
from framework.data.module import DataModule


def two_inputs(num_train: int = 96, num_test: int = 32, as_list: bool = False) -> Arrays:
    """Two inputs: an 8x8 'image' and a 3-number 'side' vector, by name (or as a list); 4 classes."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        y = rng.integers(0, 4, n).astype(np.int32)
        x = {
            "image": rng.random((n, 8, 8)).astype(np.float32) + y[:, None, None] * 0.1,
            "side": np.eye(4, 3, dtype=np.float32)[y],
        }
        return (list(x.values()) if as_list else x), y

    (xa, ya), (xb, yb) = split(num_train), split(num_test)
    return Arrays(xa, ya, xb, yb, source="two inputs")


def two_heads(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """A network with a main and an auxiliary softmax head."""
    x = keras.Input(input_shape)
    h = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(
        x,
        [
            keras.layers.Dense(num_classes, activation="softmax", name="main")(h),
            keras.layers.Dense(num_classes, activation="softmax", name="aux")(h),
        ],
    )


def tabular(task: str, num_train: int = 128, num_test: int = 64) -> Arrays:
    """Four features; labels for `task`: 'binary' (0/1 from the features' sum), 'regression'
    (a linear function plus noise), 'named' (a dict: 'kind' classes and 'size' values)."""
    rng = np.random.default_rng(1)

    def split(n: int) -> tuple[np.ndarray, object]:
        x = rng.normal(size=(n, 4)).astype(np.float32)
        score = x @ np.array([1.0, -2.0, 0.5, 1.5], np.float32)
        labels = {
            "binary": (score > 0).astype(np.int32),
            "regression": score + rng.normal(0, 0.1, n).astype(np.float32),
            "named": {"kind": (score > 0).astype(np.int32) + (score > 2), "size": score.astype(np.float32)},
        }[task]
        return x, labels

    (xa, ya), (xb, yb) = split(num_train), split(num_test)
    return Arrays(xa, ya, xb, yb, source=f"{task} table")


class CountingTrainer(Trainer):
    """A Trainer subclass with its own train_step (counts its steps in a variable, then trains as usual)."""

    def __init__(self, network: keras.Model, jit_optimizer: bool = False, start: int = 0) -> None:
        super().__init__(network, jit_optimizer=jit_optimizer)
        self.steps_taken = keras.Variable(start, dtype="int64", trainable=False)

    def train_step(self, data):
        self.steps_taken.assign_add(1)
        return super().train_step(data)


def one_unit(input_shape: tuple[int, ...]) -> keras.Model:
    """One sigmoid unit, whatever the labels."""
    return keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")]
    )


class NotATrainer:
    """Takes a Trainer's arguments but is no Trainer."""

    def __init__(self, network: keras.Model, jit_optimizer: bool = False) -> None:
        self.network = network


def streamed(shuffle_buffer: int = 256, **synthetic_args) -> DataModule:
    """`synthetic` images as a streamed DataModule (unbatched tf.data splits, shuffled through a buffer)."""
    import tensorflow as tf

    arrays = synthetic(**synthetic_args)
    return DataModule(
        tf.data.Dataset.from_tensor_slices((arrays.x_train, arrays.y_train)),
        tf.data.Dataset.from_tensor_slices((arrays.x_test, arrays.y_test)),
        source="streamed synthetic",
        class_names=arrays.class_names,
        sizes={"train": len(arrays.y_train), "test": len(arrays.y_test)},
        shuffle_buffer=shuffle_buffer,
        preprocess=arrays.preprocess,
    )


def example(**features: tf.train.Feature) -> bytes:
    """A serialized ``tf.train.Example`` of `features`."""
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def floats(*values: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def ints(*values: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


BLOB_SPEC = {"x": {"dtype": "float32", "shape": [4]}, "label": {"dtype": "int64"}}


def write_blobs(path: Path, count: int, seed: int) -> None:
    """`count` examples of three overlapping Gaussian blobs (feature `x`, 4 float32; `label` 0..2; `BLOB_SPEC`) as one
    TFRecord file.

    The best possible accuracy is about 0.9: models trained on different batches of them reach similar, imperfect
    scores."""
    rng = np.random.default_rng(seed)
    centres = 2.5 * np.eye(3, 4, dtype=np.float32)
    labels = rng.integers(0, 3, count)
    points = centres[labels] + rng.normal(0, 1.1, (count, 4)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for point, label in zip(points, labels):
            writer.write(example(x=floats(*point), label=ints(int(label))))
