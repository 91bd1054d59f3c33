"""Tests for paths in recipes: read against the recipe's folder, checked to exist, kept absolute."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import RecipeError
from framework.recipe.loader import load_recipe, recipe_to_dict
from framework.recipe.paths import DataPathSpec, origin_folder, resolve, resolve_module_file

TABLE = "a,b,label\n1,2,x\n3,4,y\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with recipes/ and data/ side by side, run from an unrelated folder."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "data").mkdir()
    for split in ("train", "test"):
        (tmp_path / "data" / f"{split}.csv").write_text(TABLE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


def csv_recipe(train: str = "../data/train.csv") -> str:
    args = f"{{train: {train}, test: ../data/test.csv, label: label}}"
    return f"name: t\ndataset:\n  name: csv\n  args: {args}\nmodel: mlp\n"


def test_data_paths_are_read_against_the_recipe_folder_and_kept_absolute(project):
    """From any folder, a relative data path names the file beside the recipe; the resolved recipe holds it absolute."""
    (project / "recipes" / "t.yaml").write_text(csv_recipe())
    recipe = load_recipe(project / "recipes" / "t.yaml")
    assert recipe.dataset.args["train"] == str(project / "recipes" / ".." / "data" / "train.csv")
    assert recipe_to_dict(recipe)["dataset"]["args"]["test"] == str(project / "recipes" / ".." / "data" / "test.csv")


def test_a_missing_data_file_is_reported_at_its_recipe_line(project):
    """A path naming nothing is a problem at the recipe line, with the path looked at and what it is read against."""
    (project / "recipes" / "t.yaml").write_text(csv_recipe("data/train.csv"))
    with pytest.raises(RecipeError) as caught:
        load_recipe(project / "recipes" / "t.yaml")
    (problem,) = caught.value.problems
    assert str(problem) == (
        f"{project / 'recipes' / 't.yaml'}:4: `dataset.args.train`: there is no file "
        f"'{project / 'recipes' / 'data' / 'train.csv'}' (got 'data/train.csv'; a relative path is read against "
        "the folder of the recipe file)"
    )


def test_set_paths_are_read_against_the_current_folder(project, monkeypatch):
    """A path given with --set is relative to where the command runs, as any command-line path."""
    (project / "recipes" / "t.yaml").write_text(csv_recipe())
    monkeypatch.chdir(project / "data")
    recipe = load_recipe(project / "recipes" / "t.yaml", ["dataset.args.train=test.csv"])
    assert recipe.dataset.args["train"] == str(project / "data" / "test.csv")
    with pytest.raises(RecipeError, match=r"--set dataset.args.train=no.csv: .* read against the current folder\)"):
        load_recipe(project / "recipes" / "t.yaml", ["dataset.args.train=no.csv"])


def test_an_inherited_path_is_read_against_the_parent_recipe(project):
    """A path a base recipe writes stays relative to the base, wherever the child recipe lives."""
    (project / "recipes" / "base.yaml").write_text(csv_recipe())
    (project / "recipes" / "deeper").mkdir()
    (project / "recipes" / "deeper" / "child.yaml").write_text("extends: ../base.yaml\nname: child\n")
    recipe = load_recipe(project / "recipes" / "deeper" / "child.yaml")
    assert Path(recipe.dataset.args["train"]).resolve() == project / "data" / "train.csv"


def test_a_model_in_a_python_file_is_found_from_any_folder(project):
    """``nets/mine.py:build`` names a file relative to the recipe, made absolute, whatever the current folder."""
    (project / "recipes" / "nets").mkdir()
    (project / "recipes" / "nets" / "tapeline_test_nets.py").write_text(
        "import keras\n\ndef build(input_shape, num_outputs, output_activation):\n"
        "    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(num_outputs)])\n"
    )
    text = csv_recipe().replace("model: mlp", "model: nets/tapeline_test_nets.py:build")
    (project / "recipes" / "t.yaml").write_text(text)
    recipe = load_recipe(project / "recipes" / "t.yaml")
    assert recipe.model.name == f"{project / 'recipes' / 'nets' / 'tapeline_test_nets.py'}:build"
    (project / "recipes" / "t.yaml").write_text(text.replace("nets/", "net/"))
    with pytest.raises(RecipeError, match=r"t.yaml:5: `model.name`: cannot import module .* there is no file"):
        load_recipe(project / "recipes" / "t.yaml")


@pytest.mark.parametrize(
    "kind, exists, missing",
    [("file", "data/train.csv", "data"), ("folder", "data", "data/train.csv"), ("pattern", "data/*.csv", "data/*.tfr")],
)
def test_each_kind_of_path_is_checked(project, kind, exists, missing):
    """A file, a folder and a glob pattern are each checked for what they must name."""
    spec = DataPathSpec(kind)
    assert spec.resolved(exists, f"{project / 'r.yaml'}:1") == str(project / exists)
    with pytest.raises(ValueError, match="no file matches" if kind == "pattern" else f"there is no {kind}"):
        spec.resolved(missing, f"{project / 'r.yaml'}:1")
    with pytest.raises(ValueError, match=f"must be a path to a {kind} \\(got ' '\\)"):
        spec.resolved(" ", "--set x= ")


def test_urls_and_absolute_paths_are_left_as_written(tmp_path):
    """Remote URLs are not local paths and are not checked; absolute and home paths are not joined."""
    assert resolve("gs://bucket/train-*.tfrecord", tmp_path) == "gs://bucket/train-*.tfrecord"
    assert not DataPathSpec("pattern").missing("gs://bucket/train-*.tfrecord")
    assert resolve("/data/x.csv", tmp_path) == "/data/x.csv"
    assert resolve("~/x.csv", tmp_path) == str(Path.home() / "x.csv")
    assert resolve_module_file("package.module:build", tmp_path) == "package.module:build"
    assert origin_folder("--set a=b") == Path.cwd() and origin_folder(f"{tmp_path / 'r.yaml'}:3") == tmp_path
