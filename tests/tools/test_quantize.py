"""Tests for `tapeline export --format litert --quantize`: smaller LiteRT models, checked by the task's metric."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import yaml

from framework.cli import main
from framework.data.catalog import synthetic
from framework.errors import TapelineError
from framework.recipe.loader import load_recipe
from framework.tools import export, quantize
from framework.tools.quantize import Score, check_scores, export_quantized, scores, worse_by
from framework.training.lifecycle import train

pytest.importorskip("ai_edge_litert.interpreter")

TINY = {"num_train": 96, "num_test": 32, "shape": [8, 8], "num_classes": 3}


@pytest.fixture(scope="module")
def run_dir(module_tiny_recipe):
    """A trained tiny run: synthetic uint8 8x8 images, Rescaling(1/255), a small CNN whose 2,048-weight dense layer is
    large enough for the converter to quantize (it leaves tensors under 1,024 elements float); test accuracy 1.0."""
    overrides = ["training.epochs=3", "optimizer.args={learning_rate: 0.01}", "model.args.units=128"]
    return train(load_recipe(module_tiny_recipe(), overrides)).directory


def interpreter_accuracy(path) -> float:
    """The accuracy of the .tflite file at `path` on the tiny run's raw test images, run here by ai-edge-litert."""
    from ai_edge_litert.interpreter import Interpreter

    data = synthetic(**TINY)
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return float(np.mean(np.argmax(runner(inputs=data.x_test)["output"], -1) == data.y_test))


def op_dtypes(path) -> set[str]:
    """The dtypes of the tensors inside the .tflite file at `path`."""
    from ai_edge_litert.interpreter import Interpreter

    return {detail["dtype"].__name__ for detail in Interpreter(model_path=str(path)).get_tensor_details()}


@pytest.mark.parametrize("mode", ["float16", "dynamic", "int8"])
def test_each_mode_exports_runs_in_litert_and_reports_both_accuracies(run_dir, tmp_path, capsys, mode):
    """`--quantize MODE` writes a .tflite that runs on raw uint8 images and prints and records both accuracies and
    sizes."""
    target = tmp_path / "model.tflite"
    argv = ["export", str(run_dir), "--format", "litert", "--quantize", mode, "--output", str(target)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"quantized ({mode}): accuracy " in out and " vs float " in out and "x smaller)" in out
    assert "on 32 test samples" in out
    checked = json.loads((tmp_path / "model.tflite.json").read_text())["checked"]
    score = checked["metrics"]["output"]
    assert checked["quantize"] == mode and checked["samples"] == 32 and score["metric"] == "accuracy"
    assert score["quantized"] == pytest.approx(interpreter_accuracy(target))
    sizes = checked["size_bytes"]
    assert score["worse"] <= 1.0 and sizes["quantized"] == target.stat().st_size < sizes["float32_litert"]
    assert checked["calibration_samples"] == (96 if mode == "int8" else 0)
    assert ("float16" if mode == "float16" else "int8") in op_dtypes(target)


def test_a_model_worse_than_max_drop_fails_and_writes_nothing(run_dir, tmp_path, monkeypatch, capsys):
    """A quantized model whose accuracy falls by more than --max-drop is exit 1 with both accuracies, and no file is
    left."""
    real = export.RUNNERS["litert"]

    def shifted(*args):
        return {k: np.roll(v, 1, axis=-1) for k, v in real(*args).items()}  # every prediction one class off

    monkeypatch.setitem(export.RUNNERS, "litert", shifted)
    argv = [
        "export",
        str(run_dir),
        "--format",
        "litert",
        "--quantize",
        "dynamic",
        "--output",
        str(tmp_path / "m.tflite"),
    ]
    assert main([*argv, "--max-drop", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "worse than the float network by more than --max-drop on 32 test samples" in err
    assert "nothing was written" in err and list(tmp_path.iterdir()) == []


def test_check_scores_refuses_a_drop_over_the_allowed_one():
    """`check_scores` passes a drop within the allowance (and an improvement) and refuses a larger one, naming it."""
    check_scores("int8", [Score("output", "accuracy", 0.9, 0.895, 0.5, 1.0), Score("b", "MAE", 1.0, 0.9, -10, 1.0)], 8)
    with pytest.raises(export.ExportCheckFailed, match=r"size: MAE 1\.0300 vs float 1\.0000 \(\+3\.00 %, allowed 1"):
        check_scores("int8", [Score("size", "MAE", 1.0, 1.03, 3.0, 1.0)], 8)


def test_metrics_per_task():
    """Classification: accuracy; binary and multilabel: accuracy at 0.5; regression: the MAE, its rise in percent."""
    targets = {
        "kind": quantize.Target("kind", "classification", 3),
        "yes": quantize.Target("yes", "binary", 1),
        "tags": quantize.Target("tags", "multilabel", 2),
        "size": quantize.Target("size", "regression", 1),
    }
    labels = {
        "kind": np.array([0, 2]),
        "yes": np.array([[1.0], [0.0]]),
        "tags": np.array([[1.0, 0.0], [1.0, 1.0]]),
        "size": np.array([[1.0], [2.0]]),
    }
    reference = {
        "kind": np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]),
        "yes": np.array([[0.9], [0.2]]),
        "tags": np.array([[0.9, 0.1], [0.6, 0.7]]),
        "size": np.array([[1.5], [2.0]]),
    }
    quantized = {
        **reference,
        "kind": np.array([[0.8, 0.1, 0.1], [0.5, 0.1, 0.4]]),
        "tags": np.array([[0.9, 0.1], [0.6, 0.4]]),
        "size": np.array([[1.5], [2.5]]),
    }
    found = {s.output: s for s in scores(targets, reference, quantized, labels, 1.0)}
    assert (found["kind"].reference, found["kind"].quantized, found["kind"].worse) == (1.0, 0.5, 50.0)
    assert found["yes"].worse == 0.0 and found["tags"].metric == "label accuracy" and found["tags"].quantized == 0.75
    assert (found["size"].metric, found["size"].reference, found["size"].quantized) == ("MAE", 0.25, 0.5)
    assert found["size"].worse == pytest.approx(100.0) and worse_by("regression", 0.0, 0.0) == 0.0


def test_named_outputs_are_scored_each(module_tiny_recipe, tmp_path):
    """A run with a classification and a regression output gets an accuracy and an MAE, each checked."""
    overrides = [
        "dataset={name: 'data_helpers:tabular', args: {task: named}}",
        "model={name: mlp, args: {units: [8]}}",
        "loss={kind: sparse_categorical_crossentropy, size: huber_loss}",
        "name=named_outputs",
    ]
    run = train(load_recipe(module_tiny_recipe("", name="named.yaml"), overrides))
    report = export_quantized(run.directory, "dynamic", tmp_path / "m.tflite", max_drop=100.0)
    assert [(s.output, s.metric) for s in report.scores] == [("kind", "accuracy"), ("size", "MAE")]
    assert report.samples == 64 and "kind accuracy" in report.line() and "size MAE" in report.line()


def test_int8_of_a_streamed_dataset_calibrates_on_its_training_split(module_tiny_recipe, tmp_path):
    """A DataModule run (tf.data splits) is calibrated on its training inputs and scored on its labelled test split."""
    overrides = ["dataset={name: 'data_helpers:streamed', args: {num_train: 64, num_test: 24, shape: [8, 8]}}"]
    run = train(load_recipe(module_tiny_recipe("", name="streamed.yaml"), [*overrides, "name=streamed"]))
    report = export_quantized(run.directory, "int8", tmp_path / "m.tflite", samples=16, max_drop=100.0)
    assert (report.calibration, report.samples) == (64, 16) and 0.0 <= report.scores[0].quantized <= 1.0


def test_a_run_whose_data_is_gone_is_exit_2(run_dir, tmp_path, capsys):
    """A run whose recipe's dataset cannot be read any more is exit 2, saying what the check needs."""
    moved = tmp_path / "run"
    shutil.copytree(run_dir, moved, ignore=shutil.ignore_patterns("export"))
    recipe = yaml.safe_load((moved / "recipe.yaml").read_text())
    recipe["dataset"].update(name="csv", args={"train": "/gone/train.csv", "test": "/gone/test.csv", "label": "y"})
    (moved / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["export", str(moved), "--format", "litert", "--quantize", "float16"]) == 2
    err = capsys.readouterr().err
    assert "checked on the run's test split with its labels" in err and "could not be read" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "onnx", "--quantize", "int8"], r"--quantize needs --format litert \(got --format onnx\)"),
        (["--format", "keras", "--quantize", "float16"], r"--quantize needs --format litert \(got --format keras\)"),
        (["--format", "litert", "--max-drop", "2"], r"--max-drop checks a quantized export: give --quantize"),
        (["--format", "litert", "--quantize", "dynamic", "--tolerance", "0.1"], r"--tolerance bounds a float export"),
    ],
)
def test_flags_that_do_not_go_together_are_exit_2(run_dir, capsys, extra, message):
    """--quantize with another format than litert, --max-drop alone and --tolerance with --quantize are exit 2."""
    assert main(["export", str(run_dir), *extra]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_a_negative_max_drop_is_refused(run_dir, capsys):
    """argparse refuses --max-drop -1 (exit 2), and the API a negative max_drop."""
    with pytest.raises(SystemExit) as exit:
        main(["export", str(run_dir), "--format", "litert", "--quantize", "int8", "--max-drop", "-1"])
    assert exit.value.code == 2 and "must be a number, 0 or more (got '-1')" in capsys.readouterr().err
    with pytest.raises(TapelineError, match=r"--max-drop must be 0 or more \(got -0\.5\)"):
        export_quantized(run_dir, "int8", max_drop=-0.5)
