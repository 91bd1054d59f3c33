"""Tests for the error report: per-sample losses, decisions and the rows kept."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest

from framework.data.tasks import Target
from framework.hooks.context import Predictions
from framework.training.error_report import (
    CONFIDENTLY_WRONG,
    HIGHEST_LOSS,
    decisions,
    error_rows,
    sample_losses,
    write_errors,
)


class Named:
    """The part of `Pipelines` the report reads: targets and sample names."""

    def __init__(self, targets: list[Target], names: list[str]) -> None:
        self.targets = targets
        self.names = names

    def sample_name(self, split: str, index: int) -> str:
        return self.names[index]


@pytest.mark.parametrize(
    ("task", "loss", "y", "p"),
    [
        ("classification", keras.losses.sparse_categorical_crossentropy, [2, 0], [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]),
        ("binary", keras.losses.binary_crossentropy, [[1.0], [0.0]], [[0.8], [0.9]]),
        ("multilabel", keras.losses.binary_crossentropy, [[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.3], [0.2, 0.95]]),
        ("regression", keras.losses.mean_squared_error, [[1.0, 2.0], [0.0, 0.0]], [[1.5, 1.0], [0.1, -0.1]]),
    ],
)
def test_sample_losses_equal_keras_losses_per_sample(task, loss, y, p):
    """Each task's per-sample loss equals Keras's loss function of that sample."""
    y, p = np.array(y), np.array(p)
    expected = keras.ops.convert_to_numpy(loss(y, p))
    np.testing.assert_allclose(sample_losses(task, y, p), expected, rtol=1e-5)


def test_non_finite_outputs_have_an_infinite_loss():
    """A sample whose outputs are NaN sorts first, with an infinite loss."""
    losses = sample_losses("classification", np.array([0, 1]), np.array([[np.nan, 0.5], [0.5, 0.5]]))
    assert losses[0] == np.inf and np.isfinite(losses[1])


def test_multilabel_decisions_name_the_label_sets_and_the_worst_label():
    """Multilabel labels and predictions are the names of the labels set; the probability is the one of the label
    decided most wrongly."""
    target = Target(None, "multilabel", 3, ["cat", "dog", "sky"])
    label, prediction, probability, wrong = decisions(target, np.array([[1, 0, 1]]), np.array([[0.9, 0.8, 0.6]]))
    assert label == ["cat;sky"] and prediction == ["cat;dog;sky"]
    assert probability[0] == pytest.approx(0.8) and wrong.tolist() == [True]


def test_rows_keep_the_highest_losses_and_the_confidently_wrong_sorted_by_loss():
    """With top 2: the two highest-loss samples (wrong, unsure) and the two most confidently wrong ones (lower loss),
    ranked by loss, named by file, with label, prediction and probability."""
    target = Target(None, "classification", 3, ["cat", "dog", "fox"])
    p = np.array(
        [[0.9, 0.05, 0.05], [0.08, 0.92, 0.0], [0.01, 0.5, 0.49], [0.05, 0.95, 0.0], [0.02, 0.49, 0.49], [1, 0, 0]]
    )
    y = np.zeros(6, np.int64)
    names = [f"img{i}.png" for i in range(6)]
    rows = error_rows(Named([target], names), "train", Predictions(p, y, {}), top=2)
    assert [r.file for r in rows] == ["img2.png", "img4.png", "img3.png", "img1.png"]
    assert [r.rank for r in rows] == [1, 2, 3, 4]
    assert [r.reason for r in rows] == [HIGHEST_LOSS] * 2 + [CONFIDENTLY_WRONG] * 2
    assert (rows[2].label, rows[2].prediction, rows[2].probability, rows[2].wrong) == ("cat", "dog", 0.95, True)
    assert rows[0].loss == pytest.approx(-np.log(0.01))


def test_several_outputs_get_rows_each_and_regression_has_no_probability(tmp_path):
    """Outputs are reported one by one under their names; a regression row has its values and an empty probability
    in errors.csv."""
    targets = [Target("kind", "classification", 2), Target("size", "regression", 1)]
    result = Predictions(
        {"kind": np.array([[0.2, 0.8], [0.7, 0.3]]), "size": np.array([[1.0], [3.0]])},
        {"kind": np.array([0, 0]), "size": np.array([[1.0], [1.0]])},
        {},
    )
    rows = error_rows(Named(targets, ["a.csv:2", "a.csv:3"]), "test", result, top=1)
    assert [(r.output, r.file) for r in rows] == [("kind", "a.csv:2"), ("size", "a.csv:3")]
    with open(write_errors(tmp_path / "errors.csv", rows)) as stream:
        written = list(csv.DictReader(stream))
    assert written[1]["label"] == "1" and written[1]["prediction"] == "3" and written[1]["probability"] == ""
    assert float(written[1]["loss"]) == pytest.approx(4.0)


def test_image_inputs_are_the_split_samples_at_those_indices(tiny_recipe):
    """`image_inputs` returns the (preprocessed) images of the unshuffled split at the indices asked for."""
    from framework.recipe.loader import load_recipe
    from framework.training.error_report import image_inputs
    from framework.training.run import build_run

    data = build_run(load_recipe(tiny_recipe())).data
    every = np.concatenate([x for x, *_ in data.train_in_order.as_numpy_iterator()])
    found = image_inputs(data, "train", [7, 2, 30])
    assert sorted(found) == [2, 7, 30]
    for index, image in found.items():
        np.testing.assert_array_equal(image, every[index])
