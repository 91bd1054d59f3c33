"""`Arrays`: a dataset held in memory as NumPy splits, and the checks that it can be trained on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.errors import DataError

if TYPE_CHECKING:
    pass


Structure = np.ndarray | dict[str, np.ndarray] | list[np.ndarray] | tuple[np.ndarray, ...]


@dataclass
class Arrays:
    """A dataset as NumPy arrays: inputs and targets per split, for data that fits in memory.

    `x_*` is an array ``(samples, ...)``, or a dict (named model inputs) or list of them;
    `y_*` is an array (integer class ids, 0/1 labels or real values, see `framework.data.tasks`) or
    a dict of them keyed by model output name. `sample_weight_train` and `sample_weight_test`
    (optional, shape ``(samples,)``, 0 or more) weigh each sample's loss as Keras's
    ``fit(sample_weight=...)`` does; the validation split takes its share of the training
    weights. `preprocess` lists the Keras preprocessing layers the dataset documents as its
    default (used when the recipe has no `dataset.preprocess`).
    """

    x_train: Structure
    y_train: Structure
    x_test: Structure
    y_test: Structure
    source: str
    class_names: list[str] | None = None
    sample_weight_train: np.ndarray | None = None
    sample_weight_test: np.ndarray | None = None
    preprocess: list[dict[str, Any]] = field(default_factory=list)


def leaves(structure: Structure) -> list[tuple[str | None, np.ndarray]]:
    """The arrays of `structure` with their names (dict key, list position, or None for one array)."""
    if isinstance(structure, dict):
        return [(str(k), np.asarray(v)) for k, v in structure.items()]
    if isinstance(structure, (list, tuple)):
        return [(str(i), np.asarray(v)) for i, v in enumerate(structure)]
    return [(None, np.asarray(structure))]


def take(structure: Structure, rows: slice | np.ndarray) -> Structure:
    """`structure` with each array cut to `rows`."""
    if isinstance(structure, dict):
        return {k: np.asarray(v)[rows] for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return tuple(np.asarray(v)[rows] for v in structure)
    return np.asarray(structure)[rows]


def check_arrays(arrays: Arrays) -> None:
    """`DataError` unless the splits can be trained on: as many inputs as targets, numeric,
    finite, with the same structure and shapes in train and test. Labels are checked against
    the task by `framework.data.tasks.check_target`."""
    where = arrays.source
    for split in ("train", "test"):
        x, y = leaves(getattr(arrays, f"x_{split}")), leaves(getattr(arrays, f"y_{split}"))
        counts = {len(a) for _, a in x + y}
        if 0 in counts:
            raise DataError(f"{where}: the {split} split is empty")
        if len(counts) > 1:
            sizes = ", ".join(
                f"{name or kind}: {len(a)}" for kind, group in (("inputs", x), ("labels", y)) for name, a in group
            )
            raise DataError(
                f"{where}: the {split} split's inputs and labels differ in length ({sizes}); each needs one entry per "
                "sample"
            )
        for name, a in x:
            what = f"{split} inputs" + (f" {name!r}" if name else "")
            if a.ndim < 1 or not (
                np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating) or a.dtype == bool
            ):
                raise DataError(
                    f"{where}: {what} must be a numeric array with a sample axis (got {a.dtype} with shape {a.shape})"
                )
            if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
                bad = int(np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))[0])
                raise DataError(f"{where}: {what} contain NaN or infinity (first in sample {bad})")
        check_sample_weights(
            getattr(arrays, f"sample_weight_{split}"), counts.pop(), f"{where}: {split} sample weights"
        )
    for kind in ("x", "y"):
        train, test = leaves(getattr(arrays, f"{kind}_train")), leaves(getattr(arrays, f"{kind}_test"))
        shapes = ([(n, a.shape[1:]) for n, a in train], [(n, a.shape[1:]) for n, a in test])
        if shapes[0] != shapes[1]:
            what = "inputs" if kind == "x" else "labels"
            raise DataError(
                f"{where}: train {what} have shapes {_shapes(shapes[0])} but test {what} {_shapes(shapes[1])}"
            )


def _shapes(named: list[tuple[str | None, tuple[int, ...]]]) -> str:
    return ", ".join(f"{name}: {shape}" if name else str(shape) for name, shape in named)


def check_sample_weights(weights: np.ndarray | None, samples: int, what: str) -> None:
    """`DataError` unless `weights` is None or one finite number of 0 or more per sample."""
    if weights is None:
        return
    if weights.shape != (samples,) or not np.issubdtype(weights.dtype, np.number):
        raise DataError(
            f"{what} must be numbers of shape ({samples},), one per sample (got {weights.dtype} with shape "
            f"{weights.shape})"
        )
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise DataError(
            f"{what} must be finite and 0 or more (first bad in sample "
            f"{int(np.flatnonzero(~(weights >= 0) | ~np.isfinite(weights))[0])})"
        )
