"""Tests for the tf.data pipelines: batching, shuffling, preprocessing and labels, from arrays and DataModules."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from framework.data.arrays import Arrays
from framework.data.catalog import synthetic
from framework.data.layers import Layer
from framework.data.module import DataModule
from framework.data.pipelines import PipelineSettings, make_pipelines
from framework.errors import DataError


def module_of(arrays: Arrays, **fields) -> DataModule:
    """`arrays` as a streamed DataModule (unbatched tf.data splits)."""
    return DataModule(
        tf.data.Dataset.from_tensor_slices((arrays.x_train, arrays.y_train)),
        tf.data.Dataset.from_tensor_slices((arrays.x_test, arrays.y_test)),
        "streamed",
        **fields,
    )


def inputs(dataset: tf.data.Dataset) -> np.ndarray:
    """Every input of a batched dataset, flattened per sample."""
    return np.concatenate([x.reshape(len(x), -1) for x, *_ in dataset.as_numpy_iterator()])


def test_inputs_reach_the_model_unchanged_and_the_last_batch_is_kept():
    """Without preprocessing, integer inputs keep their values and dtype (token ids, counts); the last partial batch
    stays."""
    tokens = np.arange(70 * 3, dtype=np.int32).reshape(70, 3) % 1000
    data = make_pipelines(
        Arrays(tokens, np.arange(70) % 4, tokens[:10], np.arange(10) % 4, "tokens"), PipelineSettings(32, shuffle=False)
    )
    batches = list(data.train.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [32, 32, 6]
    assert batches[0][0].dtype == np.int32 and np.array_equal(np.concatenate([x for x, _ in batches]), tokens)
    assert (data.input_shape, data.num_classes, data.sizes) == ((3,), 4, {"train": 70, "validation": 0, "test": 10})


def test_rescaling_preprocess_applies_to_every_split():
    """A Rescaling layer turns uint8 images into float32 in [0, 1] in train, validation and test."""
    arrays = synthetic(num_train=40, num_test=8, shape=(5, 5), num_classes=4)
    data = make_pipelines(
        arrays, PipelineSettings(16, validation_split=0.25), [Layer(keras.layers.Rescaling(1 / 255, dtype="float32"))]
    )
    for split in (data.train, data.validation, data.test):
        x = next(split.as_numpy_iterator())[0]
        assert x.dtype == np.float32 and x.shape[1:] == (5, 5, 1) and 0.0 <= x.min() and x.max() <= 1.0


def test_normalization_adapts_on_the_training_split_only():
    """An adapted Normalization layer learns the training inputs' mean and variance, not the test split's."""
    x_train, x_test = np.full((64, 2), 3.0, np.float32) + np.arange(64)[:, None] % 2, np.full((8, 2), 100.0, np.float32)
    arrays = Arrays(x_train, np.arange(64) % 2, x_test, np.arange(8) % 2, "table")
    data = make_pipelines(
        arrays, PipelineSettings(16, shuffle=False), [Layer(keras.layers.Normalization(dtype="float32"), adapt=True)]
    )
    np.testing.assert_allclose(inputs(data.train).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(inputs(data.test), (100.0 - 3.5) / 0.5, rtol=1e-4)


def test_augmentation_touches_training_batches_only():
    """Augmentation layers change training batches and leave validation and test as they are."""
    arrays = synthetic(num_train=40, num_test=8, shape=(6, 6))
    flip = [Layer(keras.layers.RandomFlip("horizontal_and_vertical", seed=1))]
    plain = make_pipelines(arrays, PipelineSettings(40, shuffle=False, validation_split=0.5))
    augmented = make_pipelines(arrays, PipelineSettings(40, shuffle=False, validation_split=0.5), augment=flip)
    assert not np.array_equal(inputs(plain.train), inputs(augmented.train))
    np.testing.assert_array_equal(inputs(plain.validation), inputs(augmented.validation))
    np.testing.assert_array_equal(inputs(plain.test), inputs(augmented.test))


def test_named_inputs_and_labels_are_batched_by_name():
    """Dict inputs reach the model as dicts of batches; dict labels become one target per name."""
    x = {"image": np.zeros((20, 4, 4), np.float32), "side": np.ones((20, 3), np.float32)}
    y = {"kind": np.arange(20) % 3, "size": np.linspace(0, 1, 20)}
    data = make_pipelines(Arrays(x, y, x, y, "two"), PipelineSettings(8, shuffle=False))
    batch_x, batch_y = next(data.train.as_numpy_iterator())
    assert batch_x["image"].shape == (8, 4, 4) and batch_x["side"].shape == (8, 3)
    assert batch_y["kind"].dtype == np.int32 and batch_y["size"].shape == (8, 1) and batch_y["size"].dtype == np.float32
    assert [(t.name, t.task, t.units) for t in data.targets] == [
        ("kind", "classification", 3),
        ("size", "regression", 1),
    ]
    assert data.input_shape == {"image": (4, 4), "side": (3,)}


def test_binary_labels_become_float_columns():
    """Binary labels reach the loss as float32 of shape (batch, 1)."""
    arrays = Arrays(np.zeros((6, 2)), np.array([0, 1, 1, 0, 1, 0]), np.zeros((2, 2)), np.array([1, 0]), "yes/no")
    data = make_pipelines(arrays, PipelineSettings(6, shuffle=False, task="binary"))
    y = next(data.train.as_numpy_iterator())[1]
    assert y.dtype == np.float32 and y.shape == (6, 1)


def test_test_labels_are_checked_against_the_training_task():
    """A test class id beyond the dataset's class names is a DataError naming the test split."""
    arrays = Arrays(
        np.zeros((4, 2)),
        np.array([0, 1, 2, 1]),
        np.zeros((2, 2)),
        np.array([0, 3]),
        "mine",
        class_names=["a", "b", "c"],
    )
    with pytest.raises(DataError, match=r"mine: test: labels must be class ids 0..2 \(found 0..3\)"):
        make_pipelines(arrays, PipelineSettings(2))


@pytest.mark.parametrize("streamed", [False, True])
def test_shuffle_depends_only_on_seed_and_epoch(streamed):
    """Each epoch's order is a function of (seed, epoch), from arrays and from a DataModule: new pipelines repeat it."""
    arrays = synthetic(num_train=64, num_test=8, shape=(2, 2))
    source = module_of(arrays, shuffle_buffer=16) if streamed else arrays

    def order(seed, epoch):
        data = make_pipelines(source, PipelineSettings(16, seed=seed))
        data.epoch.assign(epoch)
        return inputs(data.train)

    np.testing.assert_array_equal(order(3, 2), order(3, 2))
    assert not np.array_equal(order(3, 0), order(3, 1))
    assert not np.array_equal(order(3, 0), order(4, 0))
    assert sorted(map(bytes, order(3, 5))) == sorted(map(bytes, arrays.x_train.reshape(64, -1)))


def test_cardinality_is_known():
    """The shuffled pipeline from arrays still knows its number of batches (Keras uses it for step counts)."""
    data = make_pipelines(synthetic(num_train=70, num_test=8), PipelineSettings(32, seed=0))
    assert int(data.train.cardinality()) == 3


def test_validation_split_takes_the_last_samples():
    """The validation split is the last fraction of the training samples, as in Keras, from arrays and DataModules."""
    arrays = synthetic(num_train=40, num_test=8, shape=(2, 2))
    for source in (arrays, module_of(arrays, sizes={"train": 40, "test": 8})):
        data = make_pipelines(source, PipelineSettings(8, shuffle=False, validation_split=0.25))
        labels = np.concatenate([y for _, y in data.validation.as_numpy_iterator()])
        np.testing.assert_array_equal(labels, arrays.y_train[30:])
        assert data.sizes["train"] == 30 and data.sizes["validation"] == 10
    with pytest.raises(DataError, match="validation_split 0.01 leaves 0 of 40 samples"):
        make_pipelines(arrays, PipelineSettings(8, validation_split=0.01))
    with pytest.raises(DataError, match="streamed: `dataset.validation_split` needs the training split's size"):
        make_pipelines(module_of(arrays), PipelineSettings(8, validation_split=0.25))


def test_streamed_labels_are_checked_before_training():
    """A DataModule's labels are checked against the task from its first samples."""
    arrays = Arrays(np.zeros((8, 2)), np.linspace(0.1, 0.8, 8), np.zeros((2, 2)), np.array([0.3, 0.4]), "s")
    with pytest.raises(DataError, match=r"streamed: train: labels are real values"):
        make_pipelines(module_of(arrays), PipelineSettings(4, task="classification"))
    assert make_pipelines(module_of(arrays), PipelineSettings(4)).targets[0].task == "regression"


def test_pipelines_have_autotune_off():
    """Pipelines disable tf.data autotuning (its teardown stalls every epoch)."""
    for source in (synthetic(num_train=8, num_test=8), module_of(synthetic(num_train=8, num_test=8))):
        assert make_pipelines(source, PipelineSettings(4, seed=0)).train.options().autotune.enabled is False


def test_each_named_input_gets_its_own_preprocessing():
    """With named inputs, each input gets its own adapted copy of the preprocessing layers."""
    x = {
        "small": np.arange(32, dtype=np.float32).reshape(16, 2),
        "large": 1000 + 10 * np.arange(16, dtype=np.float32)[:, None],
    }
    layers = {name: [Layer(keras.layers.Normalization(dtype="float32"), adapt=True)] for name in x}
    data = make_pipelines(
        Arrays(x, np.arange(16) % 2, x, np.arange(16) % 2, "two"), PipelineSettings(16, shuffle=False), layers
    )
    batch = next(data.train.as_numpy_iterator())[0]
    for name in x:
        np.testing.assert_allclose(batch[name].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(batch[name].std(axis=0), 1.0, rtol=1e-3)


@pytest.mark.parametrize("cache", ["memory", "file"])
def test_a_cached_stream_keeps_its_epoch_order(cache, tmp_path):
    """A cached DataModule gives the same epochs as an uncached one; a file cache writes its files."""
    arrays = synthetic(num_train=64, num_test=8, shape=(2, 2))
    where = "memory" if cache == "memory" else str(tmp_path / "cache")

    def epochs(setting):
        data = make_pipelines(module_of(arrays, shuffle_buffer=16), PipelineSettings(16, seed=1, cache=setting))
        orders = []
        for epoch in range(3):
            data.epoch.assign(epoch)
            orders.append(inputs(data.train))
        return orders

    for got, want in zip(epochs(where), epochs("none")):
        np.testing.assert_array_equal(got, want)
    assert cache == "memory" or list(tmp_path.glob("cache.train*"))


def test_a_stream_of_known_size_knows_its_batches():
    """A DataModule that gives its sizes yields pipelines whose number of batches Keras can read."""
    data = make_pipelines(
        module_of(synthetic(num_train=70, num_test=8), sizes={"train": 70, "test": 8}),
        PipelineSettings(32, seed=0, validation_split=0.2),
    )
    assert (int(data.train.cardinality()), int(data.validation.cardinality()), int(data.test.cardinality())) == (
        2,
        1,
        1,
    )


def test_a_stream_shuffles_under_any_global_seed():
    """The streamed shuffle works and repeats when TensorFlow's global seed is 0 (a recipe's `seed: 0`)."""
    keras.utils.set_random_seed(0)
    source = module_of(synthetic(num_train=32, num_test=8, shape=(2, 2)), shuffle_buffer=8)
    first, second = (inputs(make_pipelines(source, PipelineSettings(8, seed=0)).train) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_eval_batch_size_batches_every_pass_but_training():
    """`eval_batch_size` sets the validation, test and in-order training batches, from arrays and streams; training
    keeps `batch_size`."""
    arrays = synthetic(num_train=100, num_test=30, shape=(2, 2))
    for source in (arrays, module_of(arrays, sizes={"train": 100, "test": 30})):
        data = make_pipelines(source, PipelineSettings(8, shuffle=False, validation_split=0.3, eval_batch_size=25))
        splits = ("train", "validation", "test", "train_in_order")
        sizes = {split: [len(y) for _, y in getattr(data, split)] for split in splits}
        assert sizes == {"train": [8] * 8 + [6], "validation": [25, 5], "test": [25, 5], "train_in_order": [25, 25, 20]}
        assert (data.batch_size, data.eval_batch_size) == (8, 25)
