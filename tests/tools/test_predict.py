"""Tests for `tapeline predict`: image files and folders, CSV and .npz inputs, rows per sample, unreadable inputs."""

from __future__ import annotations

import csv
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from framework.cli import main
from framework.data.images import load_image
from framework.data.tasks import Target
from framework.recipe.loader import load_recipe
from framework.tools.predict import flatten, prediction_row
from framework.training.lifecycle import train

CLASSES = {"bright": (170, 230), "dark": (20, 80)}  # pixel value ranges


def write_images(folder: Path, per_class: int, rng: np.random.Generator) -> None:
    """`per_class` random 10x12 RGB PNGs per class folder (bright or dark pixels)."""
    for name, (low, high) in CLASSES.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(low, high, (10, 12, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")


def train_recipe(folder: Path, name: str, dataset: str, model: str) -> tuple[Path, np.ndarray]:
    """Trains a 3-epoch recipe in `folder`; the run directory and the trained network's test-split probabilities."""
    recipe = folder / f"{name}.yaml"
    recipe.write_text(
        textwrap.dedent(f"""\
        name: {name}
        seed: 1
        dataset: {dataset}
        model: {model}
        training: {{epochs: 3, batch_size: 8, output_dir: {folder / "runs"}}}
        """)
    )
    run = train(load_recipe(recipe))
    return run.directory, run.trainer.predict(run.data.test, verbose=0)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """A run trained on an image_folder of 10x12 PNGs resized to 8x8: its directory, the test folder, the test
    probabilities."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    write_images(folder / "train", 10, rng)
    write_images(folder / "test", 3, rng)
    dataset = (
        f"{{name: image_folder, args: {{train: {folder / 'train'}, test: {folder / 'test'}, image_size: [8, 8]}}}}"
    )
    directory, probabilities = train_recipe(folder, "photos", dataset, "{name: mlp, args: {units: [8]}}")
    return directory, folder / "test", probabilities


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_folder_of_pngs_gets_the_trained_networks_classes(photos, tmp_path):
    """Each PNG of the test folder, decoded and resized as in training, gets the class and probabilities the trained
    network gives it."""
    directory, test, probabilities = photos
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(directory), str(test), "--output", str(out), "--batch-size", "4"]) == 0
    rows = read_csv(out)
    assert [row["input"] for row in rows] == sorted(str(p) for p in test.rglob("*.png"))
    assert [row["class"] for row in rows] == [["bright", "dark"][i] for i in probabilities.argmax(axis=1)]
    got = np.array([[float(row["probabilities.bright"]), float(row["probabilities.dark"])] for row in rows])
    np.testing.assert_allclose(got, probabilities, atol=1e-6)


def test_unreadable_inputs_are_reported_and_the_rest_predicted(photos, tmp_path, capsys):
    """A corrupt image and an .npz without `x` are listed with the reason on stderr (exit 1); images and a good .npz are
    predicted alike."""
    directory, test, probabilities = photos
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    first = sorted(test.rglob("*.png"))[0]
    decoded = load_image(tf.constant(str(first)), (8, 8), 3, "bilinear").numpy()[None]
    np.savez(tmp_path / "good.npz", x=decoded)
    np.savez(tmp_path / "wrong.npz", pixels=decoded)
    out = tmp_path / "predictions.jsonl"
    inputs = [str(p) for p in (first, broken, tmp_path / "good.npz", tmp_path / "wrong.npz")]
    assert main(["predict", str(directory), *inputs, "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot read '{broken}': not an image file Pillow can read" in err
    assert f"cannot read '{tmp_path / 'wrong.npz'}': holds no x or x_test array (it has pixels)" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["input"] for row in rows] == [str(first), f"{tmp_path / 'good.npz'}[0]"]
    for row in rows:
        np.testing.assert_allclose(list(row["probabilities"].values()), probabilities[0], atol=1e-6)


def test_npz_arrays_of_the_wrong_shape_are_unreadable(photos, tmp_path, capsys):
    """An .npz whose `x` does not have the run's per-sample shape is reported with both shapes."""
    directory, _, _ = photos
    np.savez(tmp_path / "small.npz", x=np.zeros((2, 4, 4, 3), np.float32))
    assert main(["predict", str(directory), str(tmp_path / "small.npz")]) == 1
    assert "array 'x' is float32 (2, 4, 4, 3); the run takes float32 (samples, 8, 8, 3)" in capsys.readouterr().err


def test_csv_rows_are_encoded_like_the_training_file(tmp_path, capsys):
    """A features-only CSV (columns reordered) is encoded like the csv dataset: the network's test probabilities; a
    broken CSV is reported."""
    rng = np.random.default_rng(3)

    def table(path: Path, rows: int, label: bool = True) -> list[list[str]]:
        lines = []
        for _ in range(rows):
            size, color = rng.normal(), rng.choice(["red", "blue"])
            lines.append(
                [f"{size:.3f}", color, f"{rng.normal():.3f}"] + (["yes" if size > 0 else "no"] if label else [])
            )
        with path.open("w", newline="") as stream:
            csv.writer(stream).writerows([["size", "color", "noise"] + (["label"] if label else []), *lines])
        return lines

    table(tmp_path / "train.csv", 40)
    test_rows = table(tmp_path / "test.csv", 6)
    with (tmp_path / "new.csv").open("w", newline="") as stream:  # no label, other column order
        csv.writer(stream).writerows([["noise", "color", "size"], *[[r[2], r[1], r[0]] for r in test_rows]])
    (tmp_path / "broken.csv").write_text("size,noise\n1.0,2.0\n")
    dataset = (
        f"{{name: csv, args: {{train: {tmp_path / 'train.csv'}, test: {tmp_path / 'test.csv'}, label: label, "
        "categorical: [color]}}"
    )
    directory, probabilities = train_recipe(tmp_path, "table", dataset, "{name: mlp, args: {units: [4]}}")
    out = tmp_path / "predictions.csv"
    assert (
        main(["predict", str(directory), str(tmp_path / "new.csv"), str(tmp_path / "broken.csv"), "--output", str(out)])
        == 1
    )
    assert (
        f"cannot read '{tmp_path / 'broken.csv'}': csv: '{tmp_path / 'broken.csv'}' has no column 'color'"
        in capsys.readouterr().err
    )
    rows = read_csv(out)
    assert [row["input"] for row in rows] == [f"{tmp_path / 'new.csv'}[{i}]" for i in range(6)]
    np.testing.assert_allclose(
        [[float(row["probabilities.no"]), float(row["probabilities.yes"])] for row in rows], probabilities, atol=1e-6
    )


def test_bad_arguments_are_exit_2_before_anything_is_built(photos, tmp_path, capsys):
    """A run without weights, a missing input, an input of unknown kind, an empty folder and an unknown --output suffix
    are exit 2."""
    directory, test, _ = photos
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(directory / "recipe.yaml", unfinished)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(unfinished), str(test)], "has no model.weights.h5"),
        ([str(directory), str(tmp_path / "missing.png")], f"input '{tmp_path / 'missing.png'}' does not exist"),
        ([str(directory), str(tmp_path / "notes.txt")], "is of no known kind (got suffix '.txt')"),
        ([str(directory), str(tmp_path / "empty")], "holds no images"),
        ([str(directory), str(test), "--output", str(tmp_path / "out.xlsx")], "--output must be a .csv or .jsonl file"),
    ]
    for argv, message in cases:
        assert main(["predict", *argv]) == 2
        assert message in capsys.readouterr().err


def test_rows_per_task_and_per_output():
    """Binary, multilabel and regression outputs read as their task; several outputs nest by name; CSV flattens them."""
    binary = Target(None, "binary", 1, ["cat", "dog"])
    assert prediction_row("a.png", {"output": np.array([0.75], np.float32)}, {"output": binary}) == {
        "input": "a.png",
        "class": "dog",
        "probabilities": {"cat": 0.25, "dog": 0.75},
    }
    targets = {
        "tags": Target("tags", "multilabel", 3, ["red", "round", "big"]),
        "size": Target("size", "regression", 2),
    }
    row = prediction_row(
        "x.npz[0]", {"tags": np.array([0.9, 0.1, 0.6], np.float32), "size": np.array([1.5, -2.0], np.float32)}, targets
    )
    assert row == {
        "input": "x.npz[0]",
        "tags": {"labels": ["red", "big"], "probabilities": {"red": 0.9, "round": 0.1, "big": 0.6}},
        "size": {"values": [1.5, -2.0]},
    }
    assert flatten(row) == {
        "input": "x.npz[0]",
        "tags.labels": "red;big",
        "tags.probabilities.red": 0.9,
        "tags.probabilities.round": 0.1,
        "tags.probabilities.big": 0.6,
        "size.values.0": 1.5,
        "size.values.1": -2.0,
    }


def test_a_run_predicts_and_exports_without_its_training_data(tmp_path):
    """With the training and test files moved away, an image run and a CSV run predict from the run directory alone
    (the adapted preprocessing, class names, image size and CSV columns are in RUN/inference/), and export."""
    rng = np.random.default_rng(1)
    write_images(tmp_path / "train", 6, rng)
    write_images(tmp_path / "test", 2, rng)
    images, _ = train_recipe(
        tmp_path,
        "images",
        f"{{name: image_folder, args: {{train: {tmp_path / 'train'}, test: {tmp_path / 'test'}, image_size: [8, 8]}}}}",
        "{name: mlp, args: {units: [4]}}",
    )
    rows = "".join(f"{x},{c},{int(x > 2)}\n" for x, c in zip(range(6), ["red", "blue", "red", "", "blue", "red"]))
    (tmp_path / "train.csv").write_text("x,colour,label\n" + rows)
    (tmp_path / "test.csv").write_text("x,colour,label\n" + rows)
    table, _ = train_recipe(
        tmp_path,
        "table",
        f"{{name: csv, args: {{train: {tmp_path / 'train.csv'}, test: "
        f"{tmp_path / 'test.csv'}, label: label, categorical: [colour]}}}}",
        "{name: mlp, args: {units: [4]}}",
    )
    shutil.move(tmp_path / "train", tmp_path / "elsewhere")
    (tmp_path / "train.csv").rename(tmp_path / "moved.csv")
    shutil.copytree(tmp_path / "test", tmp_path / "new")
    shutil.rmtree(tmp_path / "test")
    (tmp_path / "new.csv").write_text("colour,x\nblue,1\n,5\n")
    (tmp_path / "test.csv").unlink()
    assert main(["predict", str(images), str(tmp_path / "new"), "--output", str(tmp_path / "a.csv")]) == 0
    assert {row["class"] for row in read_csv(tmp_path / "a.csv")} <= {"bright", "dark"}
    assert main(["predict", str(table), str(tmp_path / "new.csv"), "--output", str(tmp_path / "b.csv")]) == 0
    assert [row["input"] for row in read_csv(tmp_path / "b.csv")] == [
        f"{tmp_path / 'new.csv'}[0]",
        f"{tmp_path / 'new.csv'}[1]",
    ]
    assert main(["export", str(table), "--format", "savedmodel"]) == 0
    interface = json.loads((table / "export" / "saved_model.json").read_text())
    assert interface["outputs"] == {"output": {"task": "classification", "units": 2, "class_names": ["0", "1"]}}
    assert sorted(i["name"] for i in interface["inputs"]) == ["colour", "x"]
