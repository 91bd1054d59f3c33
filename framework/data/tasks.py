"""Tasks: what a target holds (class ids, a yes/no, several yes/nos, real values), how it is
checked, and what a recipe gets by default for it (loss, metrics, the model's output layer).

A run has one `Target` per model output. `check_target` infers or checks its task from the
training labels, so that labels that do not fit the task are a `DataError` before anything is
trained. This module needs only NumPy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from framework.data.arrays import leaves
from framework.errors import DataError

TASKS = ("classification", "binary", "multilabel", "regression")
ACTIVATIONS = {"classification": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}
DEFAULT_LOSSES = {
    "classification": "sparse_categorical_crossentropy",
    "binary": "binary_crossentropy",
    "multilabel": "binary_crossentropy",
    "regression": "mean_squared_error",
}


DEFAULT_METRICS = {
    "classification": ["accuracy"],
    "binary": ["accuracy", "auc"],
    "multilabel": ["binary_accuracy"],
    "regression": ["mean_absolute_error", "root_mean_squared_error"],
}


# Keras losses that only make sense for some tasks; other losses (custom ones) are not checked.
LOSS_TASKS = {
    "sparse_categorical_crossentropy": ("classification",),
    "categorical_crossentropy": (),
    "categorical_focal_crossentropy": (),
    "binary_crossentropy": ("binary", "multilabel"),
    "binary_focal_crossentropy": ("binary", "multilabel"),
    "mean_squared_error": ("regression",),
    "mean_absolute_error": ("regression",),
    "mean_absolute_percentage_error": ("regression",),
    "mean_squared_logarithmic_error": ("regression",),
    "huber_loss": ("regression",),
    "log_cosh": ("regression",),
}


SAMPLE = 5  # label values quoted in messages


@dataclass(frozen=True)
class Target:
    """One model output's target.

    Attributes:
        name: the output's name when the data gives a dict of targets, else None.
        task: one of `TASKS`.
        units: the size of the model's last layer for it: classes (classification), 1 (binary),
            labels (multilabel) or values per sample (regression).
        class_names: class (or label) names, index = id, when known.
        label_values: for integer labels that are not 0..K-1 (``1, 2, 3``): the label each class id
            stands for, sorted (the data's labels are mapped to ids, the class names are the labels).
    """

    name: str | None
    task: str
    units: int
    class_names: list[str] | None = None
    label_values: tuple[int, ...] | None = None

    @property
    def activation(self) -> str:
        """The output layer's activation: softmax, sigmoid or linear."""
        return ACTIVATIONS[self.task]

    @property
    def label(self) -> str:
        """How messages name this target: ``labels`` or ``labels of output 'main'``."""
        return "labels" if self.name is None else f"labels of output {self.name!r}"


def infer_task(y: np.ndarray) -> str | None:
    """The task the labels `y` (shape ``(samples, ...)``) can only mean, or None when ambiguous.

    Integer class ids (shape ``(N,)`` or ``(N, 1)``) mean classification, integer 0/1 columns
    ``(N, K)`` multilabel, real values regression. Real-typed 0/1 values could be binary,
    multilabel or regression: the recipe must say (`task`).
    """
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return "classification" if y.ndim == 1 or y.shape[1:] == (1,) else "multilabel" if y.ndim == 2 else None
    if np.issubdtype(y.dtype, np.floating):
        return None if np.isin(y, (0.0, 1.0)).all() else "regression"
    return None


def check_target(y: np.ndarray, task: str, name: str | None, class_names: list[str] | None, where: str) -> Target:
    """The `Target` for training labels `y` under `task` (``"auto"`` to infer), or `DataError`.

    Args:
        y: the training labels (all of them, or a sample of a streamed dataset), ``(N, ...)``.
        task: ``"auto"`` or one of `TASKS`.
        name: the output's name (dict targets), or None.
        class_names: the dataset's class names, which fix the number of classes.
        where: the dataset, for messages.

    Raises:
        DataError: the labels cannot be the task's (real values for classification, ids out
            of range, values other than 0/1 for binary or multilabel), or the task is ambiguous.
    """
    what = "labels" if name is None else f"labels of output {name!r}"
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise DataError(f"{where}: {what} must be numbers (got dtype {y.dtype})")
    if task == "auto":
        task = infer_task(y)
        if task is None:
            raise DataError(
                f"{where}: {what} ({y.dtype}, shape {y.shape[1:]}, values {_sample(y)}) may be binary, multilabel or "
                "regression "
                f"targets: set `task` in the recipe to one of {', '.join(TASKS[1:])}"
            )
    if y.dtype != bool and np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise DataError(f"{where}: {what} contain NaN or infinity")
    return {"classification": _classes, "binary": _binary, "multilabel": _multilabel, "regression": _values}[task](
        y, name, class_names, f"{where}: {what}"
    )


def _sample(y: np.ndarray) -> str:
    return ", ".join(str(v) for v in np.unique(y)[:SAMPLE]) + (" ..." if np.unique(y).size > SAMPLE else "")


def _classes(y: np.ndarray, name: str | None, class_names: list[str] | None, what: str) -> Target:
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise DataError(
            f"{what} must be one class id per sample for classification (got shape {y.shape[1:]}); for several 0/1 "
            "labels per sample set `task: multilabel`"
        )
    if np.issubdtype(y.dtype, np.floating) and (y != np.round(y)).any():
        raise DataError(
            f"{what} are real values ({_sample(y)}), not class ids: classification needs integers 0..classes-1; for "
            "real-valued targets set `task: regression`"
        )
    count = len(class_names) if class_names else int(y.max()) + 1
    if y.min() < 0 or y.max() >= count:
        raise DataError(f"{what} must be class ids 0..{count - 1} (found {int(y.min())}..{int(y.max())})")
    if count < 2:
        raise DataError(f"{what} hold a single class ({int(y.max())}); classification needs at least 2")
    return Target(name, "classification", count, class_names)


def _zero_one(y: np.ndarray, what: str, task: str) -> None:
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"{what} must be 0 or 1 for task {task!r} (found {_sample(y)})")


def _binary(y: np.ndarray, name: str | None, class_names: list[str] | None, what: str) -> Target:
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise DataError(f"{what} must be one 0/1 value per sample for task 'binary' (got shape {y.shape[1:]})")
    _zero_one(y, what, "binary")
    return Target(name, "binary", 1, class_names or ["0", "1"])


def _multilabel(y: np.ndarray, name: str | None, class_names: list[str] | None, what: str) -> Target:
    if y.ndim != 2:
        raise DataError(
            f"{what} must be a 0/1 column per label, shape (samples, labels), for task 'multilabel' (got shape "
            f"{y.shape})"
        )
    _zero_one(y, what, "multilabel")
    return Target(name, "multilabel", y.shape[1], class_names)


def _values(y: np.ndarray, name: str | None, class_names: list[str] | None, what: str) -> Target:
    if y.ndim > 2:
        raise DataError(
            f"{what} must be one value or a row of values per sample for regression (got shape {y.shape[1:]})"
        )
    return Target(name, "regression", 1 if y.ndim == 1 else y.shape[1])


def loss_fits(loss: str, task: str) -> bool:
    """Whether the Keras loss named `loss` suits `task` (unknown and custom losses always do)."""
    return task in LOSS_TASKS.get(loss, TASKS)


def resolve_targets(
    y_train: Any,
    y_test: Any,
    task: str | dict[str, str],
    class_names: list[str] | None,
    source: str,
    complete: bool = False,
) -> list[Target]:
    """One `Target` per label array, its task inferred or taken from `task`, test labels checked against it.

    Integer class labels that are not 0..K-1 (``1, 2, 3``, or with gaps) get ids in their sorted
    order, their labels as class names (`Target.label_values`, `relabel`), when `complete`: the
    labels given are all of them (in-memory arrays). Labels of a streamed dataset are a sample:
    their ids are kept as they are, and a sample without class 0 is warned about.
    """
    named = dict(leaves(y_train)) if isinstance(y_train, dict) else {None: np.asarray(y_train)}
    tests = dict(leaves(y_test)) if isinstance(y_test, dict) else {None: np.asarray(y_test)}
    if isinstance(task, dict):
        unknown = sorted(set(task) - set(named))
        if unknown:
            raise DataError(
                f"{source}: `task` names outputs {unknown}; the data's labels are {sorted(map(str, named))}"
            )
    targets = []
    for name, labels in named.items():
        wanted = task.get(name, "auto") if isinstance(task, dict) else task
        values = None if class_names else _values_found(labels, tests.get(name), wanted)
        if values is not None and values != list(range(len(values))) and complete:
            names = [str(v) for v in values]
            target = check_target(_mapped(labels, values), wanted, name, names, f"{source}: train")
            target = Target(name, target.task, target.units, names, tuple(values))
            test = _mapped(tests[name], values) if name in tests else None
        else:
            names = class_names or ([str(c) for c in range(values[-1] + 1)] if values else None)
            if values and values[0] > 0 and not complete:
                warnings.warn(
                    f"{source}: the first labels read hold no class 0 (classes {values[:10]}): classes count "
                    "from 0, so class 0 gets an output; number the classes from 0",
                    stacklevel=3,
                )
            target = check_target(labels, wanted, name, names, f"{source}: train")
            test = tests.get(name)
        if test is not None:
            ids = target.class_names or (
                [str(c) for c in range(target.units)] if target.task == "classification" else None
            )
            check_target(test, target.task, name, ids, f"{source}: test")
        targets.append(target)
    return targets


def _values_found(train: np.ndarray, test: np.ndarray | None, task: str) -> list[int] | None:
    """The sorted distinct integer labels of train and test, for integer class labels of unnamed classes."""
    integers = np.issubdtype(train.dtype, np.integer) and (train.ndim == 1 or train.shape[1:] == (1,))
    if task not in ("auto", "classification") or not integers or train.size == 0:
        return None
    found = np.unique(train) if test is None or not test.size else np.union1d(np.unique(train), np.unique(test))
    return [int(v) for v in found]


def _mapped(labels: np.ndarray, values: list[int]) -> np.ndarray:
    """Integer labels as the ids of `values` (their positions); a label not among them raises `DataError`."""
    ids = np.searchsorted(values, labels)
    inside = ids < len(values)
    if not (inside & (np.asarray(values)[np.minimum(ids, len(values) - 1)] == labels)).all():
        raise DataError(f"labels hold values outside the classes {values}")
    return ids.astype(np.int32)


def relabel(y: Any, targets: list[Target]) -> Any:
    """Labels `y` (an array, or a dict by output name) with each target's `label_values` mapped to class ids."""
    by_name = {t.name: t for t in targets}

    def one(name: str | None, labels: np.ndarray) -> np.ndarray:
        values = by_name[name].label_values
        return labels if values is None else _mapped(np.asarray(labels), list(values))

    return {k: one(k, v) for k, v in y.items()} if isinstance(y, dict) else one(None, y)
