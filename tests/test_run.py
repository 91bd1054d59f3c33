"""Tests for building, training and evaluating a run from a recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.errors import DataError, RecipeError, TapelineError
from framework.recipe import load_recipe
from framework.run import build_run, evaluate_weights, train


def test_train_writes_the_run_directory(tiny_recipe, tmp_path):
    """A run writes the resolved recipe, the history, the final weights, the summary, its resumable state and the evaluation."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation]\n")))
    assert run.directory == tmp_path / "runs" / "tiny" / "version_0"
    files = sorted(p.name for p in run.directory.iterdir())
    assert files == ["evaluation.json", "history.csv", "history.json", "model.weights.h5", "recipe.yaml", "run.json", "state"]
    history = json.loads((run.directory / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and {"loss", "accuracy"} <= set(history[0])
    assert (run.directory / "history.csv").read_text().splitlines()[0] == "epoch,accuracy,loss"
    assert load_recipe(run.directory / "recipe.yaml") == run.recipe
    assert json.loads((run.directory / "run.json").read_text())["epochs"] == 2


def test_runs_get_new_versions_and_explicit_directories_are_protected(tiny_recipe, tmp_path):
    """Each run gets the next version folder; an existing --output needs overwrite."""
    recipe = load_recipe(tiny_recipe(), ["training.epochs=1"])
    assert train(recipe).directory.name == "version_0"
    assert train(recipe).directory.name == "version_1"
    target = tmp_path / "runs" / "tiny" / "version_0"
    with pytest.raises(TapelineError, match="version_0' already holds a run; pass --overwrite"):
        train(recipe, target)
    (target / "stale.txt").write_text("old")
    assert not (train(recipe, target, overwrite=True).directory / "stale.txt").exists()


def test_evaluate_weights_matches_the_evaluation_plugin(tiny_recipe):
    """Saved weights evaluated later give exactly the numbers the evaluation plugin wrote."""
    recipe = load_recipe(tiny_recipe("plugins: [evaluation]\n"))
    run = train(recipe)
    written = json.loads((run.directory / "evaluation.json").read_text())
    again = evaluate_weights(recipe, run.directory)
    assert again["accuracy"] == pytest.approx(written["accuracy"]) and again["loss"] == pytest.approx(written["loss"], rel=1e-5)


def test_evaluate_weights_errors(tiny_recipe, tmp_path):
    """Missing or mismatched weights are reported as user errors."""
    recipe = load_recipe(tiny_recipe())
    with pytest.raises(TapelineError, match="weights file .*nothing.weights.h5' does not exist"):
        evaluate_weights(recipe, tmp_path / "nothing.weights.h5")
    run = train(load_recipe(tiny_recipe(), ["training.epochs=1", "model.args.units=5"]))
    with pytest.raises(TapelineError, match="cannot load .*model.weights.h5' into model 'seed_cnn'"):
        evaluate_weights(recipe, run.directory)


def test_bad_data_fails_before_anything_is_written(tiny_recipe, tmp_path):
    """A missing dataset file is a DataError raised before the run directory exists."""
    recipe = load_recipe(tiny_recipe(), ["dataset.name=npz", "dataset.args={path: /nowhere/data.npz}"])
    with pytest.raises(DataError, match="npz: file '/nowhere/data.npz' does not exist"):
        train(recipe)
    assert not (tmp_path / "runs").exists()


def test_model_must_return_a_keras_model(tiny_recipe):
    """A model builder returning something else is reported by name."""
    with pytest.raises(TapelineError, match="model 'builtins:dict' returned dict, not a keras.Model"):
        build_run(load_recipe(tiny_recipe(), ["model.name=builtins:dict", "model.args={}"]))


def test_plugin_argument_errors_point_at_the_recipe(tiny_recipe):
    """A plugin rejecting an argument value is reported at its recipe line."""
    recipe = load_recipe(tiny_recipe("plugins:\n  - name: evaluation\n    args: {every: -1}\n"))
    with pytest.raises(TapelineError, match=r"recipe.yaml:15: `plugins\[0\].args` of plugin 'evaluation': `every` must be 0"):
        build_run(recipe)


def test_seeded_runs_repeat_and_learn(tiny_recipe):
    """Two runs with the same seed give the same history, and the loss falls."""
    recipe = load_recipe(tiny_recipe(), ["training.epochs=4"])
    first, second = train(recipe).history, train(recipe).history
    assert first == second
    assert first[-1]["loss"] < first[0]["loss"]


def test_mixed_bfloat16_reaches_float32_accuracy(write_recipe, tmp_path):
    """A small seed CNN under mixed_bfloat16 computes in bfloat16 and ends within 1 point of float32's test accuracy."""
    recipe = write_recipe(f"""\
        name: precision
        seed: 1
        dataset: {{name: synthetic, args: {{num_train: 2048, num_test: 4096, shape: [16, 16], noise: 0.8}}}}
        model: {{name: seed_cnn, args: {{filters: [8, 16], units: 32}}}}
        training: {{epochs: 3, output_dir: {tmp_path}}}
        """)
    accuracy = {}
    for precision in ("float32", "mixed_bfloat16"):
        run = train(load_recipe(recipe, [f"training.precision={precision}"]))
        assert run.trainer.network.layers[0].compute_dtype == precision.removeprefix("mixed_")
        accuracy[precision] = run.evaluate("test")["accuracy"]
    assert accuracy["float32"] > 0.8
    assert accuracy["mixed_bfloat16"] == pytest.approx(accuracy["float32"], abs=0.01)


def test_xla_optimizer_option_trains(tiny_recipe):
    """`training.jit_compile: optimizer` compiles only the update with XLA and trains."""
    run = train(load_recipe(tiny_recipe(), ["training.jit_compile=optimizer", "training.epochs=3"]))
    assert run.trainer.jit_optimizer and run.trainer._xla_update is not None
    assert run.history[-1]["loss"] < run.history[0]["loss"]


def test_output_directory_that_is_not_a_run_is_never_replaced(tiny_recipe, tmp_path):
    """--output naming a file, or a folder with other content, is refused even with overwrite."""
    recipe = load_recipe(tiny_recipe(), ["training.epochs=1"])
    notes = tmp_path / "mine" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("keep me")
    with pytest.raises(TapelineError, match="is not empty and holds no run; choose another --output"):
        train(recipe, notes.parent, overwrite=True)
    with pytest.raises(TapelineError, match="notes.txt' is a file"):
        train(recipe, notes, overwrite=True)
    assert notes.read_text() == "keep me"


def test_dataset_must_return_arrays(tiny_recipe):
    """A dataset builder returning something else is reported by name."""
    with pytest.raises(TapelineError, match="dataset 'builtins:list' returned list, not framework.datasets.Arrays"):
        build_run(load_recipe(tiny_recipe(), ["dataset={name: 'builtins:list'}"]))


def test_loss_and_metric_by_import_path(tiny_recipe):
    """Loss and metric functions named by import path are used as they are."""
    overrides = ["loss=keras.losses:sparse_categorical_crossentropy", "metrics=['keras.metrics:sparse_categorical_accuracy']", "training.epochs=1"]
    run = train(load_recipe(tiny_recipe(), overrides))
    assert {"loss", "sparse_categorical_accuracy"} <= set(run.history[0])


@pytest.mark.parametrize(
    ("plugins", "setting", "steps"),
    [
        ("[evaluation, metrics_log]", "auto", 16),  # no per-batch hook
        ("[{name: console, args: {mode: progress}}]", "auto", 1),  # redraws a bar every batch
        ("['keras.callbacks:ProgbarLogger']", "auto", 1),  # a Keras callback with batch methods
        ("[console]", "4", 4),
    ],
)
def test_steps_per_execution_auto_runs_one_step_per_call_only_for_batch_hooks(tiny_recipe, plugins, setting, steps):
    """`steps_per_execution: auto` is 16 unless a plugin or Keras callback needs every batch; a number is kept."""
    recipe = load_recipe(tiny_recipe(f"plugins: {plugins}\n"), [f"training.steps_per_execution={setting}"])
    assert build_run(recipe).trainer.steps_per_execution == steps


def test_subclassed_model_validates_trains_evaluates_and_resumes(tiny_recipe, capsys):
    """A subclassed network, built on first call, works in validate, train with console, evaluate and resume."""
    file = tiny_recipe("plugins: [console, evaluation, {name: checkpoint, args: {monitor: null}}]\n")
    overrides = ["model=model_helpers:build_subclassed", "training.epochs=1"]
    run = build_run(load_recipe(file, overrides))
    assert run.trainer.network.built and run.trainer.network.count_params() > 0
    done = train(load_recipe(file, overrides))
    written = json.loads((done.directory / "evaluation.json").read_text())
    assert evaluate_weights(load_recipe(file, overrides), done.directory)["loss"] == pytest.approx(written["loss"], rel=1e-5)
    resumed = train(load_recipe(file, ["model=model_helpers:build_subclassed", "training.epochs=2"]), done.directory, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert "parameters" in capsys.readouterr().out


def test_salvage_never_hides_the_failure(tiny_recipe, monkeypatch):
    """When keeping the weights fails too, the run's own error still reaches the caller."""
    monkeypatch.setattr("keras.Model.save_weights", lambda *args, **kwargs: (_ for _ in ()).throw(ValueError("cannot save")))
    recipe = load_recipe(tiny_recipe("plugins: [{name: 'plugin_helpers:Raiser', args: {epoch: 0}}]\n"))
    with pytest.raises(TapelineError, match="plugin 'plugin_helpers:Raiser' failed in on_epoch_end: RuntimeError: boom at epoch 0"):
        train(recipe)


def test_class_weight_weighs_the_loss_as_in_keras(tiny_recipe):
    """`training.class_weight` (integer or quoted keys) reaches fit with every class; the weighted loss differs."""
    plain = train(load_recipe(tiny_recipe(), ["training.epochs=1"]))
    weighted = train(load_recipe(tiny_recipe(), ["training.epochs=1", "training.class_weight={0: 1.0, '2': 5}"]))
    assert weighted.class_weight == {0: 1.0, 1: 1.0, 2: 5.0}
    assert weighted.history[0]["loss"] != pytest.approx(plain.history[0]["loss"])


def test_class_weight_errors(tiny_recipe, tmp_path):
    """Class ids outside the data, and class weights with sample weights from the data, are recipe errors."""
    file = tiny_recipe()
    file.write_text(file.read_text() + "  class_weight: {3: 1.0, 7: 2.0}\n")  # inside `training:`
    with pytest.raises(RecipeError, match=r"recipe.yaml:13: `training.class_weight` names class ids \[3, 7\]; the data has classes 0..2"):
        build_run(load_recipe(file))
    with pytest.raises(RecipeError, match=r"`training.class_weight` keys must be integers \(got 'a'\)"):
        load_recipe(tiny_recipe(), ["training.class_weight={a: 1.0}"])
    assert load_recipe(tiny_recipe(), ["training.class_weight.2=5.0"]).training.class_weight == {2: 5.0}
    data = write_weighted_npz(tmp_path, np.ones(40))
    with pytest.raises(RecipeError, match="cannot be used with a dataset that gives sample weights"):
        build_run(load_recipe(tiny_recipe(), ["training.class_weight={0: 2.0}", f"dataset={{name: npz, args: {{path: {data}}}}}"]))


def write_weighted_npz(tmp_path, weights: np.ndarray) -> str:
    rng = np.random.default_rng(0)
    file = tmp_path / "weighted.npz"
    np.savez(file, x_train=rng.random((40, 8, 8, 1)).astype("float32"), y_train=rng.integers(0, 3, 40), x_test=rng.random((8, 8, 8, 1)).astype("float32"),
             y_test=rng.integers(0, 3, 8), sample_weight_train=weights)
    return str(file)


def test_sample_weights_from_the_data_weigh_the_loss(tiny_recipe, tmp_path):
    """Sample weights in the dataset weigh each sample's loss as in Keras: all zero weights give a zero loss."""
    file = write_weighted_npz(tmp_path, np.zeros(40))
    run = train(load_recipe(tiny_recipe(), [f"dataset={{name: npz, args: {{path: {file}}}}}", "training.epochs=1"]))
    assert run.history[0]["loss"] == 0.0
    bad = write_weighted_npz(tmp_path, -np.ones(40))
    with pytest.raises(DataError, match="train sample weights must be finite and 0 or more"):
        build_run(load_recipe(tiny_recipe(), [f"dataset={{name: npz, args: {{path: {bad}}}}}"]))


def test_mixed_float16_outputs_float32_for_any_network(tiny_recipe):
    """Under mixed_float16 a network whose last layer is float16 still gives float32 to the loss, metrics and predict."""
    run = train(load_recipe(tiny_recipe(), ["model=model_helpers:small_cnn", "training.precision=mixed_float16", "training.epochs=1"]))
    images = next(iter(run.data.test))[0][:2]
    assert run.trainer.network(images).dtype == "float16" and run.trainer.predict(images, verbose=0).dtype == np.float32
    assert np.isfinite(run.history[0]["loss"])


def test_a_run_leaves_the_dtype_policy_as_it_found_it(tiny_recipe):
    """After a mixed-precision run (finished or failed) the process's Keras dtype policy is float32 again."""
    import keras

    train(load_recipe(tiny_recipe(), ["training.precision=mixed_bfloat16", "training.epochs=1"]))
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(RecipeError):
        train(load_recipe(tiny_recipe(), ["training.precision=mixed_float16", "loss=categorical_crossentropy"]))
    assert keras.mixed_precision.global_policy().name == "float32"
