"""Tests for the first-step check that `validate` and `train` run before anything is written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.errors import RecipeError, TapelineError
from framework.recipe.loader import load_recipe
from framework.training.first_step import blame
from framework.training.lifecycle import train
from framework.training.run import build_run


def test_a_loss_that_does_not_fit_the_labels_is_a_recipe_error_at_the_loss_line(tiny_recipe, tmp_path):
    """categorical_crossentropy on integer class ids is refused at the `loss:` line, before a run directory exists."""
    recipe = load_recipe(tiny_recipe("loss: categorical_crossentropy\n"))
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:14: `loss` 'categorical_crossentropy' does not suit the labels: they are a classification "
        r"target",
    ):
        train(recipe)
    assert not (tmp_path / "runs").exists()


def test_metric_and_user_loss_errors_point_at_their_lines(tiny_recipe):
    """A failing Keras metric points at `metrics`, a failing loss from the user's module at `loss`."""
    recipe = load_recipe(tiny_recipe("metrics: [accuracy, {name: f1_score, args: {average: macro}}]\n"))
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:14: `metrics`: the first training step fails: ValueError: FBetaScore expects 2D inputs",
    ):
        build_run(recipe).check_first_step()
    recipe = load_recipe(tiny_recipe("loss: model_helpers:failing_loss\n"))
    with pytest.raises(
        RecipeError, match=r"recipe.yaml:14: `loss`: the first training step fails: ValueError: this loss has a bug"
    ):
        build_run(recipe).check_first_step()


def test_errors_inside_compiled_steps_are_traced_to_their_component(tiny_recipe):
    """An error whose message holds TensorFlow's op-creation trace is blamed on the innermost known file."""
    recipe = load_recipe(tiny_recipe())
    error = ValueError(
        "Cast string to float is not supported\nThe op is created at:\nFile "
        '"/x/keras/src/backend/tensorflow/trainer.py", line 1, in fit\nFile "/x/keras/src/optimizers/adamw.py", line '
        "9, in update"
    )
    problem = blame(recipe, error)
    assert problem.where.endswith("recipe.yaml:1") and problem.message.startswith(
        "`optimizer`: the first training step fails: ValueError: Cast string to float"
    )
    assert blame(recipe, RuntimeError("no trace")).message == "the first training step fails: RuntimeError: no trace"


def test_the_check_changes_no_weight_or_optimizer_state(tiny_recipe):
    """After the check the network's weights, the optimizer's slots and its step count are as built."""
    run = build_run(load_recipe(tiny_recipe("optimizer: {name: adam, args: {learning_rate: 0.5}}\n")))
    before = [w.copy() for w in run.trainer.network.get_weights()]
    run.check_first_step()
    assert all(np.array_equal(a, b) for a, b in zip(before, run.trainer.network.get_weights()))
    assert int(run.trainer.optimizer.iterations.numpy()) == 0
    slots = [v for v in run.trainer.optimizer.variables if "momentum" in v.path or "velocity" in v.path]
    assert slots and all(not np.any(v.numpy()) for v in slots)


@pytest.mark.parametrize(
    "steps, split, steps_traced",
    [
        ("1", "0.25", ["train_step", "test_step", "predict_step"]),
        ("auto", "0.25", ["train_step", "test_step", "predict_step"]),
        ("auto", "0.0", ["train_step", "predict_step"]),  # the check tests a batch with the report's predict step
    ],
)
def test_a_run_traces_each_step_once(tiny_recipe, monkeypatch, steps, split, steps_traced):
    """The compiled metrics and loss are built before the first step is traced, so that tracing creates no variable
    and TensorFlow traces the train step once, not twice; validation, or without it the final report, reuses the
    check's test step, and the report's predict pass runs one step per call (Keras traces a copy of the step for
    each step of a call; a smaller last batch, which these splits of whole batches lack, is traced once more)."""
    from framework.model.trainer import Trainer

    traces = []
    for name in ("train_step", "test_step", "predict_step"):
        real = getattr(Trainer, name)
        monkeypatch.setattr(Trainer, name, lambda self, data, _r=real, _n=name: traces.append(_n) or _r(self, data))
    overrides = [f"dataset.validation_split={split}", f"training.steps_per_execution={steps}"]
    train(load_recipe(tiny_recipe("metrics: [accuracy]\nplugins: [evaluation]\n"), overrides))
    assert traces == steps_traced


RECIPE = """\
name: fuzz
seed: 3
dataset:
  name: synthetic
  args: {{num_train: {num_train}, num_test: 8, shape: [6, 6], num_classes: 3}}
  validation_split: {validation_split}
model: {model}
optimizer: {{name: {optimizer}, args: {{learning_rate: {learning_rate}{extra}}}}}
loss: {loss}
metrics: {metrics}
training:
  epochs: 1
  batch_size: {batch_size}
  steps_per_execution: {steps}
  jit_compile: {jit}
  precision: {precision}
  class_weight: {class_weight}
  output_dir: {output_dir}
"""
recipes = st.fixed_dictionaries(
    {
        "num_train": st.integers(4, 24),
        "validation_split": st.sampled_from(["0.0", "0.25"]),
        "model": st.sampled_from(
            [
                "{name: mlp, args: {units: [4]}}",
                "{name: seed_cnn, args: {filters: [2], units: 4}}",
                "model_helpers:build_subclassed",
                "{name: 'model_helpers:small_cnn', args: {width: 2}}",
            ]
        ),
        "optimizer": st.sampled_from(["adam", "sgd", "adamw", "rmsprop", "nadam", "adagrad"]),
        "learning_rate": st.sampled_from(["1e-3", "0.01", "'0.01'", "5E-2", "1"]),
        "extra": st.sampled_from(
            ["", ", clipnorm: 1.0", ", weight_decay: 1e-4", ", epsilon: 1e-7", ", global_clipnorm: '1'"]
        ),
        "loss": st.sampled_from(
            [
                "sparse_categorical_crossentropy",
                "categorical_crossentropy",
                "{name: sparse_categorical_crossentropy, args: {from_logits: yes}}",
                "binary_crossentropy",
            ]
        ),
        "metrics": st.sampled_from(
            ["[accuracy]", "[]", "[accuracy, sparse_top_k_categorical_accuracy]", "[sparse_categorical_accuracy]"]
        ),
        "batch_size": st.integers(1, 9),
        "steps": st.sampled_from(["auto", "1", "3"]),
        "jit": st.sampled_from(["optimizer", "false"]),
        "precision": st.sampled_from(["float32", "mixed_bfloat16"]),
        "class_weight": st.sampled_from(["null", "{2: 3}", "{0: 1e-1, '1': 2}", "{5: 1}"]),
    }
)


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=recipes)
def test_a_recipe_that_passes_the_check_trains(write_recipe, tmp_path, fields):
    """Generated recipes either fail the check (exit 2, nothing written) or train a step without any other error."""
    output_dir = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by all examples
    try:
        recipe = load_recipe(write_recipe(RECIPE.format(**fields, output_dir=output_dir)))
        run = train(recipe)
    except TapelineError as error:
        assert error.exit_code == 2 and not any(output_dir.iterdir()), str(error)
        return
    assert len(run.history) == 1
