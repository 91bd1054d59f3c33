"""Tests for the evaluation plugin."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train


def test_numbers_equal_trainer_evaluate_and_confusion_is_consistent(tiny_recipe, monkeypatch):
    """evaluation.json holds Trainer.evaluate's numbers, a confusion matrix and per-class accuracy, from one pass over
    the test split that gives the predictions and updates the metrics."""
    from framework.model.trainer import Trainer

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
    assert passes == ["predict", "predict"]  # the first-step check's one batch, then the report's one pass
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
    """The report's one predict pass adds the network's regularization losses to its loss as evaluate does."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation]\n"), ["model={name: 'model_helpers:regularized'}"]))
    report = json.loads((run.directory / "evaluation.json").read_text())
    expected = run.trainer.evaluate(run.data.test, verbose=0, return_dict=True)
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-6) and report["accuracy"] == pytest.approx(
        expected["accuracy"]
    )
    assert sum(map(sum, report["confusion_matrix"])) == 32


def write_two_shades(root: Path, count: int, seed: int) -> None:
    """`count` noisy 16 x 16 grey images per class: ``dark`` ones around level 70, ``light`` ones around 185."""
    rng = np.random.default_rng(seed)
    for name, level in (("dark", 70), ("light", 185)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.clip(rng.normal(level, 30, (16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def flip_labels(root: Path, count: int) -> list[str]:
    """Moves `count` images of each class into the other class's folder: wrong labels; their new paths."""
    moved = []
    for source, target in (("dark", "light"), ("light", "dark")):
        for i in range(count):
            path = root / target / f"flipped_{source}_{i:03d}.png"
            (root / source / f"{i:03d}.png").rename(path)
            moved.append(str(path))
    return moved


@pytest.fixture
def shades(tmp_path: Path, write_recipe) -> tuple[Path, list[str]]:
    """An image folder of two shades with 10 training labels flipped, and a recipe reporting the training split's
    errors; (recipe, flipped paths)."""
    write_two_shades(tmp_path / "train", 150, seed=0)
    write_two_shades(tmp_path / "test", 20, seed=1)
    flipped = flip_labels(tmp_path / "train", 5)
    recipe = write_recipe(f"""
        name: shades
        seed: 0
        dataset:
          name: image_folder
          args: {{train: {tmp_path / "train"}, test: {tmp_path / "test"}, image_size: [16, 16], color_mode: grayscale}}
        model: {{name: seed_cnn, args: {{filters: [4], units: 8}}}}
        training: {{epochs: 4, batch_size: 16, output_dir: {tmp_path / "runs"}}}
        plugins: [{{name: evaluation, args: {{errors: {{splits: [test, train], top: 30}}}}}}]
        """)
    return recipe, flipped


def test_errors_csv_puts_flipped_training_labels_first(shades):
    """errors.csv lists the test split's and the training split's highest-loss samples by file: at least 8 of the 10
    images filed under the wrong class are in the training split's top 30, each with its label and prediction."""
    recipe, flipped = shades
    run = train(load_recipe(recipe))
    with open(run.directory / "errors.csv") as stream:
        rows = list(csv.DictReader(stream))
    top = {r["file"]: r for r in rows if r["split"] == "train" and int(r["rank"]) <= 30}
    found = [path for path in flipped if path in top]
    assert len(found) >= 8, f"{len(found)} of the flipped images in the top 30"
    row = top[found[0]]
    assert {row["label"], row["prediction"]} == {"dark", "light"} and row["wrong"] == "True"
    assert {r["split"] for r in rows} == {"test", "train"}


def test_errors_false_writes_no_errors_csv(tiny_recipe):
    """`errors: false` turns the error report off."""
    run = train(load_recipe(tiny_recipe("plugins: [{name: evaluation, args: {errors: false}}]\n")))
    assert (run.directory / "evaluation.json").is_file() and not (run.directory / "errors.csv").exists()


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        ("{top: 0}", r"`errors.top` must be a positive integer \(rows per output\) \(got 0\)"),
        ("{splits: [tests]}", r"`errors.splits` must be a list of split names out of test, train, validation"),
        ("{count: 3}", r"unknown: \['count'\]"),
    ],
)
def test_bad_errors_settings_name_the_key(tiny_recipe, errors, message):
    """A bad `errors` mapping is a recipe error naming the key and the value."""
    from framework.errors import RecipeError
    from framework.training.run import build_run

    with pytest.raises(RecipeError, match=message):
        build_run(load_recipe(tiny_recipe(f"plugins: [{{name: evaluation, args: {{errors: {errors}}}}}]\n")))


def test_evaluate_errors_lists_the_rows_and_writes_csv(shades, capsys, tmp_path):
    """`tapeline evaluate --errors K --split train` prints the split's metrics and rows and writes them with
    --output; --split without --errors exits 2."""
    from framework.cli import main

    recipe, flipped = shades
    run = train(load_recipe(recipe))
    capsys.readouterr()
    out_file = tmp_path / "train_errors.csv"
    args = ["evaluate", str(recipe), "--weights", str(run.directory), "--errors", "30", "--split", "train"]
    assert main([*args, "--output", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train  accuracy") and sum(path in out for path in flipped) >= 8
    with open(out_file) as stream:
        assert {r["split"] for r in csv.DictReader(stream)} == {"train"}
    assert main(["evaluate", str(recipe), "--weights", str(run.directory), "--split", "train"]) == 2
    assert "--split and --output go with --errors K" in capsys.readouterr().err
