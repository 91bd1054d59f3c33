"""Tests for `tapeline export`: the run's preprocessing and network as one model, written and checked in its runtime."""

from __future__ import annotations

import shutil
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from framework.cli import main
from framework.data.catalog import synthetic
from framework.extras import pip_install
from framework.recipe.loader import load_recipe
from framework.tools import export
from framework.tools.export import export_run
from framework.training.lifecycle import train

TINY = {"num_train": 96, "num_test": 32, "shape": [8, 8], "num_classes": 3}


@pytest.fixture(scope="module")
def run_dir(module_tiny_recipe):
    """A trained tiny run: synthetic uint8 8x8 images, Rescaling(1/255) preprocessing, a small CNN."""
    return train(load_recipe(module_tiny_recipe(), ["training.epochs=3"])).directory


@pytest.fixture(scope="module")
def named_run_dir(module_tiny_recipe):
    """A trained run with two named inputs ('image', 'side'), each behind its own adapted Normalization."""
    recipe = module_tiny_recipe("", name="named.yaml")
    overrides = [
        "dataset={name: 'data_helpers:two_inputs', preprocess: [Normalization]}",
        "model={name: mlp, args: {units: [8]}}",
        "name=named",
    ]
    return train(load_recipe(recipe, overrides)).directory


def expected_outputs(directory, samples: int = 32) -> np.ndarray:
    """The trained network's probabilities on the first test samples through the run's own test pipeline (rebuilt
    from the recipe and its data), computed here without the export code."""
    from framework.training.run import build_run

    run = build_run(load_recipe(directory / "recipe.yaml"))
    run.trainer.network.load_weights(directory / "model.weights.h5")
    x = next(run.data.test.unbatch().map(lambda x, *rest: x).batch(samples).as_numpy_iterator())
    return np.asarray(run.trainer.network(x, training=False))


def test_keras_and_savedmodel_round_trip_raw_inputs(run_dir, tmp_path):
    """The .keras file and the SavedModel take raw uint8 images and give the trained network's outputs (max diff <
    1e-4)."""
    keras_report = export_run(run_dir, "keras", tmp_path / "model.keras")
    saved_report = export_run(run_dir, "savedmodel", tmp_path / "saved")
    assert keras_report.difference < 1e-4 and saved_report.difference < 1e-4 and keras_report.samples == 32
    assert keras_report.inputs == ["inputs uint8 (None, 8, 8, 1)"]
    assert keras_report.outputs == ["output float32 (None, 3): probabilities of 3 classes"]
    raw = synthetic(**TINY).x_test
    expected = expected_outputs(run_dir)
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "model.keras")(raw)["output"], expected, atol=1e-5)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(loaded.serve(tf.constant(raw))["output"], expected, atol=1e-5)


def test_the_command_prints_the_check_and_writes_the_default_path(run_dir, capsys):
    """`tapeline export RUN` writes RUN/export/model.keras and prints the inputs, outputs and measured difference."""
    assert main(["export", str(run_dir), "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert (run_dir / "export" / "model.keras").is_file()
    assert (
        "inputs: inputs uint8 (None, 8, 8, 1)" in out and "checked in Keras on 8 test samples: max |difference|" in out
    )


def test_litert_export_runs_in_the_litert_interpreter(run_dir, tmp_path):
    """The .tflite file, run by ai-edge-litert's interpreter on raw inputs, matches the network."""
    pytest.importorskip("ai_edge_litert.interpreter")
    report = export_run(run_dir, "litert", tmp_path / "model.tflite")
    assert report.difference < 1e-4 and report.path.stat().st_size > 0


def test_a_mixed_precision_run_goes_to_litert_computing_in_float32(module_tiny_recipe, tmp_path):
    """A mixed_bfloat16 run (whose bfloat16 convolutions LiteRT cannot run) is exported in float32, within the
    half-precision tolerance."""
    pytest.importorskip("ai_edge_litert.interpreter")
    recipe = load_recipe(module_tiny_recipe("", name="bf16.yaml"), ["training.precision=mixed_bfloat16", "name=bf16"])
    report = export_run(train(recipe).directory, "litert", tmp_path / "model.tflite")
    assert report.tolerance == export.HALF_TOLERANCE and 0 < report.difference < 1e-2


def test_onnx_export_of_named_inputs_runs_in_onnxruntime(named_run_dir, tmp_path):
    """A run with two named, separately normalized inputs exports to ONNX with one input per name and matches the
    network."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    report = export_run(named_run_dir, "onnx", tmp_path / "model.onnx")
    assert report.difference < 1e-4
    session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["image", "side"]


def test_savedmodel_of_named_inputs_takes_them_by_name(named_run_dir, tmp_path):
    """The SavedModel of a two-input run has a signature taking 'image' and 'side' and matches the network."""
    report = export_run(named_run_dir, "savedmodel", tmp_path / "saved")
    assert report.difference < 1e-4 and sorted(report.inputs) == [
        "image float64 (None, 8, 8)",
        "side float32 (None, 3)",
    ]
    signature = tf.saved_model.load(str(report.path)).signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == ["image", "side"]


@pytest.mark.parametrize(
    ("format", "module"), [("onnx", "tf2onnx"), ("onnx", "onnxruntime"), ("litert", "ai_edge_litert.interpreter")]
)
def test_a_missing_extra_is_exit_2_with_the_pip_command(run_dir, monkeypatch, capsys, format, module):
    """Without the format's packages the command stops before building anything, naming the extra to install."""
    monkeypatch.setitem(sys.modules, module, None)
    assert main(["export", str(run_dir), "--format", format]) == 2
    assert f"needs the '{format}' extra" in (err := capsys.readouterr().err) and pip_install(format) in err


def test_an_export_that_differs_fails_and_writes_nothing(run_dir, tmp_path, monkeypatch, capsys):
    """An export whose outputs differ beyond the tolerance is exit 1 with the difference, and no file is left."""
    real = export.RUNNERS["keras"]
    monkeypatch.setitem(export.RUNNERS, "keras", lambda *args: {k: v + 0.01 for k, v in real(*args).items()})
    target = tmp_path / "model.keras"
    assert main(["export", str(run_dir), "--output", str(target)]) == 1
    assert "differs from the trained network by up to 0.01" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_exit_2(run_dir, tmp_path, capsys):
    """A run without weights, a folder that is no run, an unknown format and a .keras path without the suffix are exit
    2."""
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run_dir / "recipe.yaml", unfinished)
    cases = [
        (["export", str(unfinished)], "has no model.weights.h5"),
        (["export", str(tmp_path)], "is not a run directory (no recipe.yaml)"),
        (
            ["export", str(run_dir), "--output", str(tmp_path / "model.h5")],
            "--output for --format keras must end in .keras",
        ),
        (
            ["export", str(run_dir), "--format", "litert", "--output", str(tmp_path / "model.lite")],
            "--output for --format litert must end in .tflite",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["export", str(run_dir), "--format", "tfjs"])
    assert exit.value.code == 2 and "invalid choice: 'tfjs'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def table_run_dir(tmp_path_factory, module_tiny_recipe):
    """A run on a CSV table with a numeric and a categorical column (one cell missing)."""
    folder = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    rows = [(float(rng.normal()), rng.choice(["red", "green", "blue"])) for _ in range(64)]
    text = "x,colour,label\n" + "".join(f"{x:.3f},{c},{int(x > 0)}\n" for x, c in rows)
    (folder / "train.csv").write_text(text.replace(",red,", ",,", 1))
    (folder / "test.csv").write_text(text)
    overrides = [
        f"dataset={{name: csv, args: {{train: {folder / 'train.csv'}, test: {folder / 'test.csv'}, label: label, "
        "categorical: [colour]}}",
        "model={name: mlp, args: {units: [4]}}",
        "name=table",
    ]
    return train(load_recipe(module_tiny_recipe("", name="table.yaml"), overrides)).directory


@pytest.mark.parametrize("format", ["keras", "savedmodel", "litert", "onnx"])
def test_a_csv_run_exports_a_model_of_the_raw_columns(table_run_dir, tmp_path, format):
    """Every format takes the raw columns by name (numbers and category strings, not an encoded vector) and passes
    its parity check."""
    report = export_run(
        table_run_dir,
        format,
        tmp_path / {"keras": "m.keras", "savedmodel": "sm", "litert": "m.tflite", "onnx": "m.onnx"}[format],
    )
    assert sorted(report.inputs) == ["colour string (None,)", "x float32 (None,)"] and report.difference < 1e-4


@pytest.mark.parametrize("format", ["keras", "savedmodel", "litert", "onnx"])
def test_string_lookup_in_dataset_preprocess_trains_and_exports(tmp_path, write_recipe, format):
    """`StringLookup` written in `dataset.preprocess` as the docs show is adapted on the training split, and every
    export format takes the strings."""
    from data_helpers import example, ints

    def write(path, count):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in range(count):
                colour = ["red", "orange", "green", "blue"][i % 4]
                bytes_list = tf.train.Feature(bytes_list=tf.train.BytesList(value=[colour.encode()]))
                writer.write(example(colour=bytes_list, label=ints(int(colour in ("red", "orange")))))

    write(tmp_path / "train.tfrecord", 64)
    write(tmp_path / "test.tfrecord", 16)
    recipe = write_recipe(f"""\
        name: colours
        seed: 0
        task: classification
        dataset:
          name: tfrecord
          args:
            train: {tmp_path / "train.tfrecord"}
            test: {tmp_path / "test.tfrecord"}
            label: label
            features: {{colour: {{dtype: string}}, label: {{dtype: int64}}}}
          preprocess: [{{name: StringLookup, args: {{output_mode: one_hot}}}}]
        model: {{name: mlp, args: {{units: [4]}}}}
        optimizer: {{name: adam, args: {{learning_rate: 0.05}}}}
        training: {{epochs: 3, batch_size: 16, output_dir: {tmp_path / "runs"}, jit_compile: false}}
        """)
    run = train(load_recipe(recipe))
    lookup = run.data.preprocess[0].keras_layer
    assert sorted(lookup.get_vocabulary()) == ["[UNK]", "blue", "green", "orange", "red"]
    report = export_run(run.directory, format, None)
    assert report.inputs == ["inputs string (None,)"] and report.difference < 1e-4
