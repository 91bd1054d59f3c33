"""A run's raw samples with their labels, read again through the run's recipe (its dataset builder, no pipelines).

`tapeline export --quantize` scores a quantized model on the test split with its labels and
calibrates int8 activations on training inputs; a run directory keeps neither (only the first
raw test samples, without labels), so both are read from the recipe's dataset, as `tapeline
evaluate` reads it. Inputs come by the run's input names (`framework.tools.inference.Trained.names`)
as its reader gives them (``uint8`` pixels, CSV columns ...), labels by output name, mapped to
class ids as in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.arrays import Arrays, leaves, take
from framework.data.tasks import Target, relabel
from framework.errors import TapelineError, error_summary
from framework.tools.inference import SINGLE_OUTPUT, Trained

WINDOW = 10  # streamed splits are drawn from a shuffle window of WINDOW x the samples wanted

if TYPE_CHECKING:
    import tensorflow as tf

    from framework.data.module import DataModule


@dataclass
class Labeled:
    """Raw samples by input name (``(n, ...)`` arrays in the reader's dtypes) and their labels by output name: int class
    ids ``(n,)`` for classification, float32 ``(n, units)`` otherwise."""

    inputs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def read_source(trained: Trained) -> Arrays | DataModule:
    """The run's dataset as its recipe builds it (no preprocessing, no pipelines).

    Raises:
        TapelineError: (exit 2) the dataset cannot be read here (its files moved, a module missing ...).
    """
    from framework.recipe.components import build_component
    from framework.recipe.registry import DATASETS

    name = trained.recipe.dataset.name
    try:
        return build_component(trained.recipe, DATASETS, ("dataset",))
    except (TapelineError, OSError, ValueError, ImportError) as error:
        raise TapelineError(
            f"a quantized export is checked on the run's test split with its labels, read through the run's recipe, "
            f"but dataset {name!r} could not be read: {error_summary(error)}"
        ) from None


def named(structure: Any, names: Any) -> dict[str, np.ndarray]:
    """Arrays in a reader's structure (one, a dict, a list) by the run's input names (`Trained.names`); strings as
    ``str``."""
    import tensorflow as tf

    arrays = [np.asarray(a) for a in tf.nest.flatten(structure)]
    return {n: a.astype(str) if a.dtype == object else a for n, a in zip(tf.nest.flatten(names), arrays)}


def first_batch(dataset: tf.data.Dataset, count: int, split: str) -> Any:
    """The first `count` elements of an unbatched dataset (the `split` split) as one NumPy batch.

    Raises:
        TapelineError: (exit 2) the split is empty or cannot be read (a file gone since training ...).
    """
    import tensorflow as tf

    try:
        return next(dataset.take(count).batch(count).as_numpy_iterator())
    except StopIteration:
        raise TapelineError(f"the run's {split} split is empty") from None
    except tf.errors.OpError as error:
        raise TapelineError(f"reading the run's {split} split failed: {error_summary(error)}") from None


def drawn(total: int, count: int, seed: int) -> np.ndarray:
    """`count` of the row numbers ``0 .. total - 1`` (all when fewer) drawn at random from `seed`, sorted."""
    return np.sort(np.random.default_rng(seed).choice(total, min(count, total), replace=False))


def shuffled(dataset: tf.data.Dataset, count: int, seed: int) -> tf.data.Dataset:
    """A streamed split shuffled from `seed` in a window of `WINDOW` × `count` samples (the whole split when it is
    smaller: files sorted by class are then drawn evenly)."""
    return dataset.shuffle(WINDOW * count, seed=seed)


def labeled_test(trained: Trained, source: Arrays | DataModule, count: int) -> Labeled:
    """`count` raw test samples of `source` drawn at random (seeded by the recipe's seed; all when fewer) with their
    labels (mapped to class ids as in training)."""
    seed = trained.recipe.seed or 0
    if isinstance(source, Arrays):
        rows = drawn(len(leaves(source.y_test)[0][1]), count, seed)
        x, y = take(source.x_test, rows), take(source.y_test, rows)
    else:
        x, y, *_ = first_batch(shuffled(source.test, count, seed), count, "test")
    targets = trained.targets
    y = relabel(y, list(targets.values()))
    by_output = {str(k): v for k, v in y.items()} if isinstance(y, dict) else {SINGLE_OUTPUT: y}
    return Labeled(named(x, trained.names), {k: label_array(targets[k], v) for k, v in by_output.items()})


def label_array(target: Target, labels: Any) -> np.ndarray:
    """Labels as the metrics take them: int class ids ``(n,)`` for classification, float32 ``(n, units)`` else."""
    labels = np.asarray(labels)
    if target.task == "classification":
        return labels.reshape(-1).astype(np.int64)
    return labels.astype(np.float32).reshape(len(labels), target.units)


def training_inputs(trained: Trained, source: Arrays | DataModule, count: int) -> dict[str, np.ndarray]:
    """`count` raw training inputs by input name, drawn at random (seeded by the recipe's seed): the int8
    calibration set."""
    seed = trained.recipe.seed or 0
    if isinstance(source, Arrays):
        rows = drawn(len(leaves(source.y_train)[0][1]), count, seed)
        return named(take(source.x_train, rows), trained.names)
    inputs = shuffled(source.train.map(lambda x, *rest: x), count, seed)
    return named(first_batch(inputs, count, "training"), trained.names)
