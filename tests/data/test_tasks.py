"""Tests for tasks: inferring them from labels, and refusing labels that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from framework.data.tasks import check_target, infer_task, loss_fits
from framework.errors import DataError


@pytest.mark.parametrize(
    "labels, task",
    [
        (np.array([0, 2, 1]), "classification"),
        (np.array([[0], [1], [1]]), "classification"),
        (np.array([[0, 1, 1], [1, 0, 0]]), "multilabel"),
        (np.array([0.5, 1.7, -3.0]), "regression"),
        (np.array([[0.5, 2.0], [1.0, 0.0]]), "regression"),
        (np.array([0.0, 1.0, 1.0]), None),
    ],
)
def test_task_inference(labels, task):
    """Integer ids mean classification, 0/1 integer columns multilabel, real values regression; real 0/1 is
    ambiguous."""
    assert infer_task(labels) == task


def test_targets_know_their_units_and_heads():
    """A target gives the output layer's size and activation for its task."""
    assert (
        check_target(np.array([0, 3, 1]), "auto", None, None, "d").units,
        check_target(np.array([0, 3]), "auto", None, None, "d").activation,
    ) == (4, "softmax")
    binary = check_target(np.array([0.0, 1.0]), "binary", "out", None, "d")
    assert (binary.units, binary.activation, binary.name, binary.class_names) == (1, "sigmoid", "out", ["0", "1"])
    assert check_target(np.zeros((5, 3)), "regression", None, None, "d").units == 3


BAD_LABELS = {
    "real values for classification": (
        np.array([0.2, 1.5]),
        "classification",
        r"d: labels are real values \(0.2, 1.5\), not class ids: .* set `task: regression`",
    ),
    "negative class id": (np.array([0, -1]), "auto", r"d: labels must be class ids 0..0 \(found -1..0\)"),
    "beyond the class names": (np.array([0, 1, 5]), "classification", r"labels must be class ids 0..2 \(found 0..5\)"),
    "one class": (np.array([0, 0]), "auto", r"hold a single class \(0\); classification needs at least 2"),
    "not 0/1 for binary": (np.array([0, 2]), "binary", r"labels must be 0 or 1 for task 'binary' \(found 0, 2\)"),
    "1-D multilabel": (np.array([0, 1]), "multilabel", r"must be a 0/1 column per label"),
    "ambiguous": (np.array([0.0, 1.0]), "auto", r"may be binary, multilabel or regression targets: set `task`"),
    "non-finite regression": (np.array([0.5, np.nan]), "regression", r"labels contain NaN or infinity"),
    "text labels": (np.array(["a", "b"]), "auto", r"labels must be numbers \(got dtype <U1\)"),
    "columns for classification": (
        np.array([[0, 1], [1, 0]]),
        "classification",
        r"one class id per sample .* set `task: multilabel`",
    ),
}


@pytest.mark.parametrize("labels, task, message", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_labels_that_do_not_fit_the_task(labels, task, message):
    """Labels that cannot be the task's are a DataError saying why and what to set."""
    with pytest.raises(DataError, match=message):
        check_target(
            labels,
            task,
            None,
            ["a", "b", "c"] if "class names" in message or task == "classification" and len(labels) == 3 else None,
            "d",
        )


def test_loss_fits_task():
    """Known Keras losses fit their tasks only; custom losses are not judged."""
    assert loss_fits("sparse_categorical_crossentropy", "classification") and not loss_fits(
        "sparse_categorical_crossentropy", "regression"
    )
    assert loss_fits("binary_crossentropy", "multilabel") and not loss_fits("mean_squared_error", "binary")
    assert loss_fits("my_package.losses:focal", "regression")


def test_array_labels_from_1_map_to_ids_with_their_names():
    """In-memory labels 1..3 give 3 classes named '1', '2', '3'; the arrays are mapped to ids 0..2."""
    from framework.data.tasks import relabel, resolve_targets

    [target] = resolve_targets(np.array([1, 2, 3, 1]), np.array([3, 2]), "auto", None, "npz", complete=True)
    assert (target.units, target.class_names, target.label_values) == (3, ["1", "2", "3"], (1, 2, 3))
    assert relabel(np.array([3, 1]), [target]).tolist() == [2, 0]
    [kept] = resolve_targets(np.array([0, 1, 2]), np.array([1]), "auto", None, "npz", complete=True)
    assert kept.label_values is None and kept.class_names == ["0", "1", "2"]


def test_streamed_labels_without_class_0_are_warned_about():
    """A stream's first labels are a sample: their ids stay, and a sample without class 0 says so."""
    from framework.data.tasks import resolve_targets

    with pytest.warns(UserWarning, match=r"the first labels read hold no class 0 \(classes \[1, 2\]\)"):
        [target] = resolve_targets(np.array([1, 2]), np.array([1]), "auto", None, "tfrecord")
    assert target.units == 3
