"""Tests for framework.training.reports: the task reports, honest about absent classes and non-finite outputs."""

from __future__ import annotations

import numpy as np
import pytest

from framework.data.tasks import Target
from framework.training.reports import classes_report, multilabel_report, target_report


def one_hot(ids: list[int], classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[ids]


def test_a_class_absent_from_the_split_is_reported_absent_and_left_out_of_macro_f1():
    """A perfect classifier on a split without class 'c' gets macro F1 1.0 over a and b; 'c' has no 0.0 scores."""
    target = Target(None, "classification", 3, ["a", "b", "c"])
    y = np.array([0, 0, 1, 1, 1])
    report = classes_report(target, y, one_hot([0, 0, 1, 1, 1], 3))
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0 and report["macro_over"] == ["a", "b"]
    assert report["per_class"]["c"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
        "predicted": 0,
        "absent": True,
    }
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_an_absent_class_that_is_predicted_has_precision_zero():
    """Predicting a class the split lacks is wrong every time: precision 0.0, recall and F1 undefined."""
    target = Target(None, "classification", 3, ["a", "b", "c"])
    report = classes_report(target, np.array([0, 1]), one_hot([2, 1], 3))
    assert report["per_class"]["c"] == {
        "precision": 0.0,
        "recall": None,
        "f1": None,
        "support": 0,
        "predicted": 1,
        "absent": True,
    }
    assert report["macro_over"] == ["a", "b"] and report["macro_f1"] == pytest.approx(0.5)


def test_multilabel_macro_f1_covers_the_labels_present():
    """A label with no positive sample in the split is absent and outside the macro average."""
    target = Target(None, "multilabel", 2, ["x", "y"])
    y = np.array([[1, 0], [0, 0]])
    report = multilabel_report(target, y, y.astype(np.float32))
    assert report["macro_f1"] == 1.0 and report["macro_over"] == ["x"] and report["per_label"]["y"]["absent"]


def test_non_finite_predictions_are_counted_not_fatal():
    """NaN outputs (a diverged network) are left out and counted; all-NaN outputs give just the count."""
    target = Target(None, "regression", 1)
    y = np.array([[1.0], [2.0], [3.0]])
    report = target_report(target, y, np.array([[1.0], [np.nan], [3.0]]))
    assert report["non_finite_predictions"] == 1 and report["mae"] == 0.0
    assert target_report(target, y, np.full((3, 1), np.nan)) == {"task": "regression", "non_finite_predictions": 3}
    binary = Target(None, "binary", 1, ["no", "yes"])
    assert target_report(binary, np.array([0, 1]), np.array([[np.inf], [0.9]]))["non_finite_predictions"] == 1
