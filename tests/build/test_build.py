"""Tests for turning recipes into data, network and Trainer: tasks, several inputs and outputs, custom Trainers."""

from __future__ import annotations

import json

import pytest

from framework.errors import RecipeError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import build_run

HELPERS = "data_helpers"


def recipe_with(tiny_recipe, *overrides: str):
    """The tiny recipe (1 epoch, evaluation plugin) with `overrides`."""
    return load_recipe(tiny_recipe("plugins: [evaluation]\n"), ["training.epochs=1", *overrides])


def test_named_inputs_reach_the_model_by_name(tiny_recipe):
    """A dataset of named inputs trains a model taking a dict of inputs (the built-in mlp concatenates them)."""
    run = train(
        recipe_with(tiny_recipe, f"dataset={{name: '{HELPERS}:two_inputs'}}", "model={name: mlp, args: {units: [8]}}")
    )
    assert run.data.input_shape == {"image": (8, 8), "side": (3,)} and "loss" in run.history[0]
    assert sorted(run.trainer.network.input) == ["image", "side"]


def test_a_list_of_inputs_is_two_inputs_not_two_samples(tiny_recipe):
    """Inputs given as a list of arrays are the model's inputs in order, as in Keras."""
    run = train(
        recipe_with(
            tiny_recipe,
            f"dataset={{name: '{HELPERS}:two_inputs', args: {{as_list: true}}}}",
            "model={name: mlp, args: {units: [8]}}",
        )
    )
    assert run.data.input_shape == ((8, 8), (3,)) and run.data.sizes["train"] == 96


def test_one_label_set_trains_every_output(tiny_recipe):
    """A two-head model on one set of labels trains both heads, each with its own loss and metrics."""
    run = train(
        recipe_with(tiny_recipe, f"model={{name: '{HELPERS}:two_heads'}}", "loss_weights={main: 1.0, aux: 0.3}")
    )
    assert {"main_loss", "aux_loss", "main_accuracy", "aux_accuracy"} <= set(run.history[0])
    report = json.loads((run.directory / "evaluation.json").read_text())
    assert set(report["outputs"]) == {"main", "aux"} and len(report["outputs"]["aux"]["confusion_matrix"]) == 3


def test_binary_report_agrees_with_accuracy(tiny_recipe):
    """One sigmoid unit on 0/1 labels: the confusion matrix (threshold 0.5) gives Keras's accuracy; ROC-AUC is
    reported."""
    run = train(
        recipe_with(
            tiny_recipe,
            f"dataset={{name: '{HELPERS}:tabular', args: {{task: binary}}}}",
            "task=binary",
            "model={name: mlp, args: {units: [8]}}",
            "training.epochs=3",
        )
    )
    report = json.loads((run.directory / "evaluation.json").read_text())
    matrix = report["confusion_matrix"]
    assert run.trainer.network.output_shape == (None, 1) and report["task"] == "binary"
    assert (matrix[0][0] + matrix[1][1]) / 64 == pytest.approx(report["accuracy"]) and 0.0 <= report["roc_auc"] <= 1.0
    assert run.evaluate("test")["accuracy"] == pytest.approx(report["accuracy"])


def test_regression_reports_mae_rmse_r2(tiny_recipe):
    """Real-valued labels are a regression: one linear output, MSE by default, MAE/RMSE/R² in the report."""
    run = train(
        recipe_with(
            tiny_recipe,
            f"dataset={{name: '{HELPERS}:tabular', args: {{task: regression}}}}",
            "model={name: mlp, args: {units: [8]}}",
        )
    )
    report = json.loads((run.directory / "evaluation.json").read_text())
    assert (
        report["task"] == "regression"
        and {"mae", "rmse", "r2"} <= set(report)
        and "mean_absolute_error" in run.history[0]
    )
    assert run.trainer.network.layers[-1].activation.__name__ == "linear"


def test_named_labels_get_one_head_each(tiny_recipe):
    """Labels keyed by name get one output per name (the built-in mlp's `outputs`), with per-output losses."""
    run = train(
        recipe_with(
            tiny_recipe,
            f"dataset={{name: '{HELPERS}:tabular', args: {{task: named}}}}",
            "model={name: mlp, args: {units: [8]}}",
            "loss={kind: sparse_categorical_crossentropy, size: huber_loss}",
            "metrics={size: [mean_absolute_error]}",
        )
    )
    assert {"kind_loss", "size_loss", "size_mean_absolute_error"} <= set(run.history[0])
    report = json.loads((run.directory / "evaluation.json").read_text())
    assert report["outputs"]["kind"]["task"] == "classification" and report["outputs"]["size"]["task"] == "regression"


MISMATCHES = {
    "too few units": (
        [
            "model={name: 'data_helpers:two_heads'}",
            "dataset.args.num_classes=3",
            "model.name=mlp",
            "model.args={num_outputs: 2}",
        ],
        r"unknown key `model.args.num_outputs`",
    ),
    "loss for another task": (
        ["loss=mean_squared_error"],
        r"`loss` 'mean_squared_error' does not suit the labels: they are a classification target",
    ),
    "per-output loss for a missing output": (
        ["loss={main: mean_squared_error}"],
        r"`loss` names outputs \['main'\], but the model has one unnamed output",
    ),
    "classification builder on regression labels": (
        [
            f"dataset={{name: '{HELPERS}:tabular', args: {{task: regression}}}}",
            "model={name: 'model_helpers:small_cnn'}",
        ],
        r"model 'model_helpers:small_cnn' needs `num_classes`, but the labels are not one classification target "
        r"\(regression\)",
    ),
    "one sigmoid unit with class ids": (
        [
            f"dataset={{name: '{HELPERS}:tabular', args: {{task: binary}}}}",
            "model={name: mlp, args: {units: [4]}}",
            "task=classification",
            "model.args.output_activation=sigmoid",
        ],
        r"unknown key `model.args.output_activation`",
    ),
}


@pytest.mark.parametrize("overrides, message", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_what_does_not_fit_is_a_recipe_error(tiny_recipe, overrides, message):
    """Models, losses and outputs that do not fit the labels are recipe errors before training."""
    with pytest.raises(RecipeError, match=message):
        build_run(recipe_with(tiny_recipe, *overrides))


def test_model_output_size_must_fit_the_labels(tiny_recipe):
    """A model with one unit for 3 classes is refused at the model's line, with the binary hint."""
    with pytest.raises(
        RecipeError,
        match=r"model 'data_helpers:one_unit' outputs 1 value\(s\) per sample, but its classification labels need 3 "
        r"\(one per class\); for one sigmoid unit",
    ):
        build_run(recipe_with(tiny_recipe, f"model={{name: '{HELPERS}:one_unit'}}"))


def test_a_recipe_names_its_trainer_class(tiny_recipe):
    """`trainer: module:Class` trains with that Trainer subclass (its own train_step, its own args)."""
    run = train(recipe_with(tiny_recipe, f"trainer={{name: '{HELPERS}:CountingTrainer', args: {{start: 100}}}}"))
    assert type(run.trainer).__name__ == "CountingTrainer" and int(run.trainer.steps_taken.numpy()) == 100 + 96 // 16
    with pytest.raises(
        RecipeError, match=r"trainer 'data_helpers:NotATrainer' is a NotATrainer, not a subclass of framework.Trainer"
    ):
        build_run(recipe_with(tiny_recipe, f"trainer={{name: '{HELPERS}:NotATrainer'}}"))


def test_test_sample_weights_weigh_the_loss_and_the_weighted_metrics(tiny_recipe, tmp_path):
    """With test sample weights, `loss` and `weighted_accuracy` are weighted and `accuracy` counts every sample once,
    each equal to its formula on the network's predictions."""
    import numpy as np

    from framework.recipe.loader import load_recipe
    from framework.training.lifecycle import train

    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8)).astype(np.float32)
    y = (x.mean(axis=(1, 2)) > 0.5).astype(np.int64)
    weights = rng.integers(0, 3, 32).astype(np.float32)
    np.savez(tmp_path / "w.npz", x_train=x, y_train=y, x_test=x[:32], y_test=y[:32], sample_weight_test=weights)
    run = train(load_recipe(tiny_recipe(), [f"dataset={{name: npz, args: {{path: {tmp_path / 'w.npz'}}}}}",
                                            "model={name: mlp, args: {units: [4]}}"]))
    metrics = run.evaluate("test")
    right = run.trainer.predict(x[:32, ..., None], verbose=0).argmax(axis=1) == y[:32]
    assert metrics["accuracy"] == pytest.approx(right.mean(), abs=1e-6)
    assert metrics["weighted_accuracy"] == pytest.approx((right * weights).sum() / weights.sum(), abs=1e-6)


@pytest.mark.parametrize(
    "overrides, compiled",
    [
        (["training.epochs=16"], False),  # 6 steps an epoch: 96 steps
        (["training.epochs=17"], True),  # 102 steps
        (["training.epochs=1", "training.jit_compile=optimizer"], True),
        (["training.epochs=50", "training.jit_compile=false"], False),
    ],
)
def test_auto_jit_compiles_the_update_for_runs_of_100_steps_or_more(tiny_recipe, overrides, compiled):
    """`training.jit_compile: auto` compiles the update with XLA only when the run trains at least 100 steps."""
    run = build_run(load_recipe(tiny_recipe(), ["training.jit_compile=auto", *overrides]))
    assert run.trainer.jit_optimizer is compiled
