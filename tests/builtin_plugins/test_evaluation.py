"""Tests for the evaluation plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train


@pytest.mark.parametrize("trace_after", [25, 0], ids=["eager", "traced"])
def test_numbers_equal_trainer_evaluate_and_confusion_is_consistent(tiny_recipe, monkeypatch, trace_after):
    """evaluation.json holds Trainer.evaluate's numbers, a confusion matrix and per-class accuracy, from one pass over
    the test split (its metrics computed eagerly or traced)."""
    import framework.training.reports
    from framework.model.trainer import Trainer

    monkeypatch.setattr(framework.training.reports, "TRACE_AFTER", trace_after)
    passes = []
    for method in ("evaluate", "predict"):
        real = getattr(Trainer, method)
        monkeypatch.setattr(
            Trainer,
            method,
            lambda self, *a, _real=real, _name=method, **k: passes.append(_name) or _real(self, *a, **k),
        )
    run = train(
        load_recipe(tiny_recipe("plugins: [evaluation]\n"), ["dataset.args.num_test=40"])
    )  # batches of 16, 16 and 8
    assert passes == ["evaluate", "predict"]  # the first-step check's one batch, then the report's one pass
    monkeypatch.undo()
    report = json.loads((run.directory / "evaluation.json").read_text())
    expected = run.trainer.evaluate(run.data.test, verbose=0, return_dict=True)
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 40
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
    assert report["class_names"] == ["0", "1", "2"]
    row = matrix[1]
    assert (
        report["per_class"]["1"]["recall"] == pytest.approx(row[1] / row.sum())
        and report["per_class"]["1"]["support"] == row.sum()
    )


def test_every_n_epochs_adds_test_metrics_to_the_logs(tiny_recipe):
    """With every: 2, epochs 2 and 4 carry test_loss and test_accuracy in their logs and history."""
    run = train(load_recipe(tiny_recipe("plugins: [{name: evaluation, args: {every: 2}}]\n"), ["training.epochs=4"]))
    assert ["test_loss" in row for row in run.history] == [False, True, False, True]


def test_a_network_with_regularization_losses_reports_evaluates_numbers(tiny_recipe):
    """Regularization losses exist only in a forward pass: the report then takes evaluate's loss, which includes
    them."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation]\n"), ["model={name: 'model_helpers:regularized'}"]))
    report = json.loads((run.directory / "evaluation.json").read_text())
    expected = run.trainer.evaluate(run.data.test, verbose=0, return_dict=True)
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-6) and report["accuracy"] == pytest.approx(
        expected["accuracy"]
    )
    assert sum(map(sum, report["confusion_matrix"])) == 32
