"""Tests for file sharding under multi_worker: when a shard is offered, per-worker batches, the steps workers agree on,
fit's input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from framework.build.data import adapted_layers
from framework.data.module import DataModule, Shard, usable_shard
from framework.data.pipelines import PipelineSettings, make_pipelines
from framework.data.sharding import (
    FAILED,
    agree,
    built_together,
    offered_shard,
    own_row,
    training_input,
    unshardable,
)
from framework.errors import DataError
from framework.recipe.loader import load_recipe

POLICY = tf.data.experimental.AutoShardPolicy


def module(shard: Shard | None, count: int = 20) -> DataModule:
    """`count` samples of two features, labels 0..2 in turn, as this worker's training files when `shard` is set."""
    x = np.arange(2 * count, dtype=np.float32).reshape(count, 2)
    split = tf.data.Dataset.from_tensor_slices((x, (np.arange(count) % 3).astype(np.int32)))
    return DataModule(split, split, "twenty", sizes={"train": count, "test": count}, shard=shard)


def test_a_shard_takes_every_nth_item_and_needs_a_file_per_worker():
    """files[index::count]; fewer files than workers: no shard, with a warning naming them and the counts."""
    assert Shard(1, 3).of(["a", "b", "c", "d", "e"]) == ["b", "e"]
    assert usable_shard(Shard(1, 2), 2, "x") == Shard(1, 2) and usable_shard(None, 0, "x") is None
    with pytest.warns(
        UserWarning,
        match=r"tfrecord: train pattern 'a\*' has 1 file\(s\) for 2 workers: every worker reads all of them .* split "
        r"the data into 2 or more files",
    ):
        assert usable_shard(Shard(0, 2), 1, "tfrecord: train pattern 'a*'") is None


def test_settings_that_need_the_whole_training_split_keep_data_sharding(tiny_recipe):
    """One worker gets no shard; several replicas per worker, validation_split, limit or an adapted layer say why there
    is none."""
    recipe = load_recipe(tiny_recipe())
    assert offered_shard(recipe, tf.distribute.get_strategy(), []) is None and offered_shard(recipe, None, []) is None
    assert unshardable(recipe, 1, []) is None
    assert "each worker has 2 replicas" in unshardable(recipe, 2, [])
    assert "`dataset.validation_split: 0.1` holds out" in unshardable(
        load_recipe(tiny_recipe(), ["dataset.validation_split=0.1"]), 1, []
    )
    assert "`dataset.limit: 40` takes" in unshardable(load_recipe(tiny_recipe(), ["dataset.limit=40"]), 1, [])
    adapting = load_recipe(
        tiny_recipe(), ["dataset.preprocess=[Normalization, {name: Normalization, args: {mean: 0, variance: 1}}]"]
    )
    assert adapted_layers(adapting) == ["preprocess[0] (Normalization)"]
    assert "preprocess[0] (Normalization) in `dataset` adapt(s)" in unshardable(adapting, 1, adapted_layers(adapting))


def test_a_workers_own_training_split_is_batched_by_its_part_of_the_global_batch():
    """Global batch 8 on 2 workers: own training batches of 4, auto-sharding off; the test split stays shared out by
    data."""
    data = make_pipelines(module(Shard(0, 2)), PipelineSettings(8, seed=1))
    assert data.shard == Shard(0, 2) and data.batch_size == 8
    assert [len(y) for _, y in data.train.as_numpy_iterator()] == [4] * 5
    assert [len(y) for _, y in data.test.as_numpy_iterator()] == [8, 8, 4]
    assert data.train.options().experimental_distribute.auto_shard_policy == POLICY.OFF
    assert data.test.options().experimental_distribute.auto_shard_policy == POLICY.DATA
    assert own_row(data) == [5, 20, 3]


def test_workers_run_the_steps_of_the_smallest_share():
    """Every worker is cut to the fewest steps; the samples left out are counted in a warning; sizes count what all
    train on."""
    data = make_pipelines(module(Shard(0, 2)), PipelineSettings(8, seed=1))
    with pytest.warns(
        UserWarning,
        match=r"hold \[20, 10\] training samples; each epoch every worker runs 3 steps of 4 .* leaving out 8 of 30 "
        r"samples",
    ):
        agreed = agree(data, np.array([[5, 20, 3], [3, 10, 3]]))
    assert agreed.train_steps == agreed.steps_per_epoch == 3 and agreed.sizes["train"] == 12 + 10
    assert len(list(agreed.train)) == 3 and agreed.train.cardinality() == 3


def test_a_failing_worker_or_different_classes_stop_every_worker():
    """A worker that could not read its files, or workers whose files give other output units, are a DataError on every
    worker."""
    data = make_pipelines(module(Shard(0, 2)), PipelineSettings(8, seed=1))
    with pytest.raises(
        DataError, match=r"twenty: worker\(s\) \[1\] could not read their training data \(their own output says why\)"
    ):
        agree(data, np.array([[5, 20, 3], FAILED]))
    with pytest.raises(DataError, match=r"different numbers of output units per worker \(\[3, 2\]\)"):
        agree(data, np.array([[5, 20, 3], [5, 20, 2]]))


def test_built_together_on_one_worker():
    """One worker agrees with itself (nothing cut); its DataError is raised after the gather."""
    strategy = tf.distribute.get_strategy()
    data = built_together(strategy, lambda: make_pipelines(module(Shard(0, 1)), PipelineSettings(8, seed=1)))
    assert data.train_steps == 3 and data.sizes["train"] == 20

    def fails() -> None:
        raise DataError("tfrecord: 1 unreadable file: 'a'")

    with pytest.raises(DataError, match="1 unreadable file"):
        built_together(strategy, fails)


def test_fit_gets_a_workers_own_split_as_a_per_worker_dataset_with_class_weights_applied():
    """Shared data goes to fit as it is; a worker's own split is distributed per worker, its class weights as sample
    weights."""
    strategy = tf.distribute.get_strategy()
    shared = make_pipelines(module(None), PipelineSettings(8, seed=1))
    assert training_input(shared.train, shared, strategy, {0: 2.0, 1: 1.0, 2: 1.0}) == (
        shared.train,
        {0: 2.0, 1: 1.0, 2: 1.0},
    )
    own = make_pipelines(module(Shard(0, 2)), PipelineSettings(8, shuffle=False))
    train, class_weight = training_input(own.train, own, strategy, {0: 2.0, 1: 1.0, 2: 0.5})
    _, y, weights = next(iter(train))
    assert (
        class_weight is None and y.numpy().tolist() == [0, 1, 2, 0] and weights.numpy().tolist() == [2.0, 1.0, 0.5, 2.0]
    )
