"""Tests for building, training and evaluating a run from a recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.errors import DataError, RecipeError, TapelineError
from framework.recipe.loader import load_recipe
from framework.tools.evaluate import evaluate_weights
from framework.training.lifecycle import train
from framework.training.run import build_run


def test_train_writes_the_run_directory(tiny_recipe, tmp_path):
    """A run writes the resolved recipe, the history, the final weights, the summary, its resumable state and the
    evaluation."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation]\n")))
    assert run.directory == tmp_path / "runs" / "tiny" / "version_0"
    files = sorted(p.name for p in run.directory.iterdir())
    assert files == [
        "audit.json",
        "errors.csv",
        "evaluation.json",
        "history.csv",
        "history.json",
        "inference",
        "model.weights.h5",
        "recipe.yaml",
        "run.json",
        "state",
    ]
    assert sorted(p.name for p in (run.directory / "inference").iterdir()) == [
        "inference.json",
        "preprocess.keras",
        "samples.npz",
    ]
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
    assert again["accuracy"] == pytest.approx(written["accuracy"]) and again["loss"] == pytest.approx(
        written["loss"], rel=1e-5
    )


def test_evaluate_weights_errors(tiny_recipe, tmp_path):
    """Missing or mismatched weights are reported as user errors."""
    recipe = load_recipe(tiny_recipe())
    with pytest.raises(TapelineError, match="weights file .*nothing.weights.h5' does not exist"):
        evaluate_weights(recipe, tmp_path / "nothing.weights.h5")
    run = train(load_recipe(tiny_recipe(), ["training.epochs=1", "model.args.units=5"]))
    with pytest.raises(TapelineError, match="cannot load .*model.weights.h5' into model 'seed_cnn'"):
        evaluate_weights(recipe, run.directory)


def test_bad_data_fails_before_anything_is_written(tiny_recipe, tmp_path):
    """An unreadable dataset file is a DataError raised before the run directory exists."""
    (tmp_path / "data.npz").write_text("not an archive")
    recipe = load_recipe(tiny_recipe(), ["dataset.name=npz", f"dataset.args={{path: {tmp_path / 'data.npz'}}}"])
    with pytest.raises(DataError, match="cannot read '.*data.npz' as a .npz archive"):
        train(recipe)
    assert not (tmp_path / "runs").exists()


def test_model_must_return_a_keras_model(tiny_recipe):
    """A model builder returning something else is reported by name."""
    with pytest.raises(TapelineError, match="model 'builtins:dict' returned dict, not a keras.Model"):
        build_run(load_recipe(tiny_recipe(), ["model.name=builtins:dict", "model.args={}"]))


def test_plugin_argument_errors_point_at_the_recipe(tiny_recipe):
    """A plugin rejecting an argument value is reported at its recipe line."""
    recipe = load_recipe(tiny_recipe("plugins:\n  - name: evaluation\n    args: {every: -1}\n"))
    with pytest.raises(
        TapelineError, match=r"recipe.yaml:16: `plugins\[0\].args` of plugin 'evaluation': `every` must be 0"
    ):
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
    with pytest.raises(
        TapelineError, match="dataset 'builtins:list' returned list, not framework.Arrays or framework.DataModule"
    ):
        build_run(load_recipe(tiny_recipe(), ["dataset={name: 'builtins:list'}"]))


def test_loss_and_metric_by_import_path(tiny_recipe):
    """Loss and metric functions named by import path are used as they are."""
    overrides = [
        "loss=keras.losses:sparse_categorical_crossentropy",
        "metrics=['keras.metrics:sparse_categorical_accuracy']",
        "training.epochs=1",
    ]
    run = train(load_recipe(tiny_recipe(), overrides))
    assert {"loss", "sparse_categorical_accuracy"} <= set(run.history[0])


@pytest.mark.parametrize(
    ("plugins", "setting", "steps"),
    [
        ("[evaluation, tensorboard]", "auto", 16),  # no per-batch hook
        ("[{name: console, args: {mode: progress}}]", "auto", 1),  # redraws a bar every batch
        ("['keras.callbacks:ProgbarLogger']", "auto", 1),  # a Keras callback with batch methods
        ("[console]", "4", 4),
        ("[metrics_log]", "auto", 16),  # a row every 48 batches: 16 divides it
        ("[{name: metrics_log, args: {every_n_batches: 50}}]", "auto", 2),
        ("[metrics_log, {name: console, args: {mode: progress}}]", "auto", 1),
    ],
)
def test_steps_per_execution_auto_runs_one_step_per_call_only_for_batch_hooks(tiny_recipe, plugins, setting, steps):
    """`steps_per_execution: auto` is 16, or what divides the batch hooks' `batch_interval` (1 when a plugin or Keras
    callback needs every batch); a number is kept."""
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
    assert evaluate_weights(load_recipe(file, overrides), done.directory)["loss"] == pytest.approx(
        written["loss"], rel=1e-5
    )
    resumed = train(
        load_recipe(file, ["model=model_helpers:build_subclassed", "training.epochs=2"]), done.directory, resume=True
    )
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert "parameters" in capsys.readouterr().out


def test_salvage_never_hides_the_failure(tiny_recipe, monkeypatch):
    """When keeping the weights fails too, the run's own error still reaches the caller."""
    monkeypatch.setattr(
        "keras.Model.save_weights", lambda *args, **kwargs: (_ for _ in ()).throw(ValueError("cannot save"))
    )
    recipe = load_recipe(tiny_recipe("plugins: [{name: 'plugin_helpers:Raiser', args: {epoch: 0}}]\n"))
    with pytest.raises(
        TapelineError, match="plugin 'plugin_helpers:Raiser' failed in on_epoch_end: RuntimeError: boom at epoch 0"
    ):
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
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:14: `training.class_weight` names class ids \[3, 7\]; the data has classes 0..2",
    ):
        build_run(load_recipe(file))
    with pytest.raises(RecipeError, match=r"`training.class_weight` keys must be integers \(got 'a'\)"):
        load_recipe(tiny_recipe(), ["training.class_weight={a: 1.0}"])
    assert load_recipe(tiny_recipe(), ["training.class_weight.2=5.0"]).training.class_weight == {2: 5.0}
    data = write_weighted_npz(tmp_path, np.ones(40))
    with pytest.raises(RecipeError, match="cannot be used with a dataset that gives sample weights"):
        build_run(
            load_recipe(
                tiny_recipe(), ["training.class_weight={0: 2.0}", f"dataset={{name: npz, args: {{path: {data}}}}}"]
            )
        )


def write_weighted_npz(tmp_path, weights: np.ndarray) -> str:
    rng = np.random.default_rng(0)
    file = tmp_path / "weighted.npz"
    np.savez(
        file,
        x_train=rng.random((40, 8, 8, 1)).astype("float32"),
        y_train=rng.integers(0, 3, 40),
        x_test=rng.random((8, 8, 8, 1)).astype("float32"),
        y_test=rng.integers(0, 3, 8),
        sample_weight_train=weights,
    )
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
    """Under mixed_float16 a network whose last layer is float16 still gives float32 to the loss, metrics and
    predict."""
    run = train(
        load_recipe(
            tiny_recipe(), ["model=model_helpers:small_cnn", "training.precision=mixed_float16", "training.epochs=1"]
        )
    )
    images = next(iter(run.data.test))[0][:2]
    assert run.trainer.network(images).dtype == "float16" and run.trainer.predict(images, verbose=0).dtype == np.float32
    assert np.isfinite(run.history[0]["loss"])


def test_a_run_leaves_the_process_settings_as_it_found_them(tiny_recipe):
    """After a run (finished or failed), the dtype policy, op determinism and random states are the ones found before
    it."""
    import random

    import keras
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config

    tf_seed = context.global_seed()
    random.seed(11), np.random.seed(11)
    expected = random.random(), np.random.rand()
    random.seed(11), np.random.seed(11)
    train(
        load_recipe(
            tiny_recipe(), ["training.precision=mixed_bfloat16", "training.epochs=1", "training.deterministic=true"]
        )
    )
    assert keras.mixed_precision.global_policy().name == "float32" and not config.is_op_determinism_enabled()
    assert (
        random.random(),
        np.random.rand(),
    ) == expected and context.global_seed() == tf_seed  # the run had reseeded all three
    with pytest.raises(RecipeError):
        train(load_recipe(tiny_recipe(), ["training.precision=mixed_float16", "loss=categorical_crossentropy"]))
    assert keras.mixed_precision.global_policy().name == "float32"


def exceptions_logged(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_plugin_failing_in_on_train_end_leaves_the_run_files_and_exits_1(tiny_recipe, tmp_path, capsys):
    """A plugin raising in on_train_end: exit 1 naming plugin and hook; weights, history and run.json ("failed") are
    written,
    then on_exception is called once with the error; --resume completes the run."""
    from framework.cli import main

    log = tmp_path / "exceptions.jsonl"
    file = tiny_recipe(
        f"plugins: [{{name: 'plugin_helpers:RaiseAtTrainEnd', args: {{marker: '{tmp_path / 'raised'}'}}}}, "
        f"{{name: 'plugin_helpers:ExceptionRecorder', args: {{log: '{log}'}}}}]\n"
    )
    run_dir = tmp_path / "run"
    assert main(["train", str(file), "--output", str(run_dir)]) == 1
    message = "plugin 'plugin_helpers:RaiseAtTrainEnd' failed in on_train_end: RuntimeError: boom at the end"
    assert f"tapeline: error: {message}" in capsys.readouterr().err
    assert {"model.weights.h5", "run.json", "history.json", "history.csv"} <= {p.name for p in run_dir.iterdir()}
    assert not (run_dir / "interrupted.weights.h5").exists()  # the final weights were saved already
    summary = json.loads((run_dir / "run.json").read_text())
    assert (summary["status"], summary["epochs"], summary["error"]) == ("failed", 2, f"PluginError: {message}")
    assert [row["epoch"] for row in json.loads((run_dir / "history.json").read_text())] == [1, 2]
    (called,) = exceptions_logged(log)
    assert called["type"] == "PluginError" and called["error"] == message
    assert {"model.weights.h5", "run.json", "history.json"} <= set(called["files"])
    assert (
        main(["train", "--resume", str(run_dir)]) == 0
    )  # a failed run has not ended: no epoch to train, on_train_end again
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert [row["epoch"] for row in json.loads((run_dir / "history.json").read_text())] == [1, 2]
    assert len(exceptions_logged(log)) == 1


def test_on_exception_runs_once_per_plugin_and_its_own_failure_never_hides_the_error(tiny_recipe, tmp_path, capsys):
    """A plugin failing mid-training: every on_exception is called once, after the history, run.json and interrupted
    weights
    are written; one raising in on_exception is reported on stderr and the run's own error is raised."""
    from framework.errors import PluginError

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    file = tiny_recipe(
        "plugins:\n  - {name: 'plugin_helpers:Raiser', args: {epoch: 1}}\n"
        f"  - {{name: 'plugin_helpers:ExceptionRecorder', args: {{log: '{first}', fail: true}}}}\n"
        f"  - {{name: 'plugin_helpers:ExceptionRecorder', args: {{log: '{second}'}}}}\n"
    )
    with pytest.raises(
        PluginError, match="plugin 'plugin_helpers:Raiser' failed in on_epoch_end: RuntimeError: boom at epoch 1"
    ):
        train(load_recipe(file))
    assert (
        "tapeline: warning: plugin 'plugin_helpers:ExceptionRecorder' failed in on_exception: ValueError: "
        "on_exception itself fails" in capsys.readouterr().err
    )
    for log in (first, second):
        (called,) = exceptions_logged(log)
        assert (called["type"], called["epoch"]) == ("PluginError", 1)
        assert {"interrupted.weights.h5", "run.json", "history.json"} <= set(
            called["files"]
        ) and "model.weights.h5" not in called["files"]
    run_dir = tmp_path / "runs" / "tiny" / "version_0"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert [row["epoch"] for row in json.loads((run_dir / "history.json").read_text())] == [1]


def test_ctrl_c_writes_an_interrupted_summary_says_how_to_resume_and_calls_on_exception(tiny_recipe, tmp_path, capsys):
    """KeyboardInterrupt in a hook is raised as it is, after run.json ("interrupted") and on_exception; stderr says
    where the state is and the command that continues it."""
    log = tmp_path / "exceptions.jsonl"
    file = tiny_recipe(
        f"plugins: [{{name: plugin_helpers:Interrupter, args: {{epoch: 1}}}}, "
        f"{{name: 'plugin_helpers:ExceptionRecorder', args: {{log: '{log}'}}}}]\n"
    )
    with pytest.raises(KeyboardInterrupt):
        train(load_recipe(file))
    assert [called["type"] for called in exceptions_logged(log)] == ["KeyboardInterrupt"]
    directory = tmp_path / "runs" / "tiny" / "version_0"
    summary = json.loads((directory / "run.json").read_text())
    assert (summary["status"], summary["error"]) == ("interrupted", "KeyboardInterrupt")
    assert (
        f"tapeline: the state saved after 1 epoch(s) is in '{directory / 'state'}'; `tapeline train --resume "
        f"{directory}` continues"
    ) in capsys.readouterr().err


def test_an_unexpected_error_in_training_exits_1_with_a_message(tiny_recipe, tmp_path, monkeypatch, capsys):
    """An exception inside fit that is no plugin's (here TensorFlow running out of memory) is TrainingFailed: exit 1,
    traceback and message."""
    import tensorflow as tf

    from framework.cli import main
    from framework.training.callbacks import EpochRecorder

    def out_of_memory(self, epoch, logs=None):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape [4096, 4096]")

    monkeypatch.setattr(EpochRecorder, "on_epoch_end", out_of_memory)
    assert main(["train", str(tiny_recipe()), "--output", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.rstrip().endswith(
        "tapeline: error: training failed in epoch 1: ResourceExhaustedError: OOM when allocating tensor with shape "
        "[4096, 4096]"
    )
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
