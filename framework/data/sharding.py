"""File sharding under ``multi_worker``: each worker trains on its own training files.

A dataset builder with a ``shard`` parameter (``tfrecord``, ``image_folder``) is given this
worker's `Shard` and reads only ``files[index::count]`` of its training files; the pipeline
batches them by this worker's part of the global batch (`framework.data.pipelines`), and `fit`
gets them through ``distribute_datasets_from_function``, which hands each worker's own
dataset to that worker alone (`training_input`).

``MultiWorkerMirroredStrategy`` needs every worker to run the same number of steps, or the
workers' collectives stop matching (the one with fewer steps fails, the others wait
forever). After building its data each worker therefore joins one gather of (steps, samples,
output units) (`built_together`): every worker then runs as many steps per epoch as the
smallest share fills, a worker with more samples leaving out its last ones (after its
shuffle, so a different subset each epoch). A worker whose files cannot be read takes part
in that gather too, so the others stop with it instead of waiting.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from framework.data.module import Shard
from framework.errors import DataError
from framework.recipe.registry import DATASETS
from framework.recipe.signatures import signature_parameters
from framework.runtime.compat import class_weight_map_fn
from framework.runtime.distribute import (
    gather_from_workers,
    is_multi_worker,
    worker_place,
)

if TYPE_CHECKING:
    from framework.data.pipelines import Pipelines
    from framework.recipe.sections import Recipe


FAILED = [-1, 0, 0]  # the row of a worker whose data could not be built


def offered_shard(recipe: Recipe, strategy: tf.distribute.Strategy | None, adapted: list[str]) -> Shard | None:
    """This worker's `Shard` for the recipe's dataset builder, or None when training is not
    sharded by file: one worker, a builder without a ``shard`` parameter, or (with a warning)
    a setting that needs the whole training split on every worker.

    `adapted` names the recipe's preprocessing layers that adapt on the training split. The
    answer depends only on the recipe and the cluster, so every worker gets the same one.
    """
    if strategy is None or not is_multi_worker(strategy):
        return None
    if "shard" not in (signature_parameters(DATASETS.get(recipe.dataset.name).target) or {}):
        return None
    index, workers = worker_place(strategy)
    reason = unshardable(recipe, strategy.num_replicas_in_sync // workers, adapted)
    if reason:
        warnings.warn(
            f"dataset {recipe.dataset.name!r}: every worker reads all training files (data sharding), because {reason}",
            stacklevel=2,
        )
        return None
    return Shard(index, workers)


def unshardable(recipe: Recipe, replicas_per_worker: int, adapted: list[str]) -> str | None:
    """Why the training split cannot be read worker by worker, or None."""
    section = recipe.dataset
    if replicas_per_worker > 1:
        return (
            f"each worker has {replicas_per_worker} replicas: Keras 3.15 counts a per-worker dataset's steps per "
            "replica batch, so file sharding needs one replica per worker"
        )
    if section.validation_split:
        return (
            f"`dataset.validation_split: {section.validation_split}` holds out the last samples of the whole training "
            "split (give the dataset validation files instead)"
        )
    if section.limit:
        return f"`dataset.limit: {section.limit}` takes the first samples of the whole training split"
    if adapted:
        return f"{', '.join(adapted)} in `dataset` adapt(s) on the whole training split"
    return None


def built_together(strategy: tf.distribute.Strategy, build: Callable[[], Pipelines]) -> Pipelines:
    """`build()` on every worker, then the training steps they agree on (`agree`).

    Every worker calls this once with the same shard offer; a `DataError` on one worker (a
    damaged file of its own) is raised there after telling the others, which raise too.
    """
    try:
        data = build()
    except DataError:
        gather_from_workers(strategy, FAILED)
        raise
    return agree(data, gather_from_workers(strategy, own_row(data)))


def own_row(data: Pipelines) -> list[int]:
    """What this worker tells the others: its training steps and samples, and its targets' output units."""
    size = data.sizes["train"]
    batch = data.batch_size // data.shard.count if data.shard else data.batch_size
    return [-(-size // batch), size, sum(target.units for target in data.targets)]


def agree(data: Pipelines, table: np.ndarray) -> Pipelines:
    """`data` with its training split cut to the steps every worker can run.

    Args:
        data: this worker's data.
        table: every worker's `own_row` (or `FAILED`), one row per worker (int64, (workers, 3)).

    Raises:
        DataError: another worker could not build its data, or the workers' labels need
            different output units (their files hold different classes).
    """
    failed = [int(i) for i in np.flatnonzero(table[:, 0] < 0)]
    if failed:
        raise DataError(
            f"{data.source}: worker(s) {failed} could not read their training data (their own output says why); every "
            "worker stops"
        )
    if len(set(table[:, 2].tolist())) > 1:
        raise DataError(
            f"{data.source}: the workers' training files give different numbers of output units per worker "
            f"({table[:, 2].tolist()}); "
            "every worker needs the same classes in its files (or give the test split every class)"
        )
    if data.shard is None:
        return data
    steps = int(table[:, 0].min())
    batch = data.batch_size // data.shard.count
    used = np.minimum(table[:, 1], steps * batch)
    left = int(table[:, 1].sum() - used.sum())
    if left:
        warnings.warn(
            f"{data.source}: the workers' files hold {table[:, 1].tolist()} training samples; each epoch every worker "
            "runs "
            f"{steps} steps of {batch} (what the smallest share fills), leaving out {left} of "
            f"{int(table[:, 1].sum())} samples, "
            "a different subset each epoch (spread the samples evenly over the files to use them all)",
            stacklevel=2,
        )
    return replace(
        data, train=data.train.take(steps), train_steps=steps, sizes={**data.sizes, "train": int(used.sum())}
    )


def training_input(
    dataset: tf.data.Dataset, data: Pipelines, strategy: tf.distribute.Strategy, class_weight: dict[int, float] | None
) -> tuple[Any, dict[int, float] | None]:
    """What ``fit`` trains on for `dataset` (`data.train`, or the rest of an epoch), and the class weights to give it.

    `dataset` itself, unless it is this worker's own share: then a dataset distributed with
    ``distribute_datasets_from_function`` (which gives each worker its own dataset, not a share
    of a global one), with the class weights applied as sample weights by Keras's own function
    (Keras cannot map a distributed dataset).
    """
    if data.shard is None:
        return dataset, class_weight
    train = dataset if class_weight is None else dataset.map(class_weight_map_fn(class_weight))
    return strategy.distribute_datasets_from_function(lambda context: train), None
