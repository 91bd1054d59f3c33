"""Tests for `framework.data.splits`: random, stratified and group validation splits, from arrays and streamed data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import streamed
from PIL import Image

from framework.data.catalog import synthetic
from framework.data.image_folder import image_folder
from framework.data.pipelines import PipelineSettings, make_pipelines
from framework.data.splits import SplitRule, held_out
from framework.data.tables import csv
from framework.errors import DataError


def labels_of(dataset) -> np.ndarray:
    return np.concatenate([batch[1] for batch in dataset.as_numpy_iterator()])


def test_stratified_keeps_every_class_share():
    """A stratified split holds out the same fraction of every class, also of a rare one."""
    labels = np.array([0] * 80 + [1] * 10 + [2] * 10)
    mask = held_out(100, SplitRule(0.2, "stratified"), 0, "here", labels)
    assert [int(mask[labels == c].sum()) for c in range(3)] == [16, 2, 2]
    assert not np.array_equal(mask, held_out(100, SplitRule(0.2, "stratified"), 1, "here", labels))


def test_random_split_depends_only_on_the_seed():
    """A random split is the same for one seed and not the last samples."""
    first = held_out(50, SplitRule(0.2, "random"), 3, "here")
    np.testing.assert_array_equal(first, held_out(50, SplitRule(0.2, "random"), 3, "here"))
    assert first.sum() == 10 and not first[-10:].all()


def test_group_split_keeps_groups_whole():
    """With groups, every group lands on one side and about the fraction is held out."""
    groups = [f"patient{i // 4}" for i in range(40)]
    mask = held_out(40, SplitRule(0.25, split_by="x"), 0, "here", groups=groups)
    for key in set(groups):
        sides = {bool(m) for m, g in zip(mask, groups) if g == key}
        assert len(sides) == 1
    assert mask.sum() == 8


def test_stratified_split_of_arrays_and_streams():
    """`split: stratified` balances the validation classes from arrays and from a streamed DataModule alike."""
    settings = PipelineSettings(16, shuffle=False, validation_split=0.25, seed=0, split="stratified")
    arrays = synthetic(num_train=80, num_test=8, num_classes=4, shape=(2, 2))
    for source in (arrays, streamed(num_train=80, num_test=8, num_classes=4, shape=(2, 2))):
        data = make_pipelines(source, settings)
        counts = np.bincount(labels_of(data.validation), minlength=4)
        expected = [round(n * 0.25) for n in np.bincount(arrays.y_train, minlength=4)]
        assert list(counts) == expected
        assert data.sizes["train"] + data.sizes["validation"] == 80
        assert len(labels_of(data.train)) == data.sizes["train"]


def test_stratified_refuses_real_valued_labels():
    """A stratified split of regression targets is refused, naming the reason."""
    with pytest.raises(DataError, match="stratified` needs class labels; the labels are real numbers"):
        held_out(10, SplitRule(0.2, "stratified"), 0, "here", np.linspace(0, 1, 10))


def write_bursts(root: Path) -> None:
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for burst in range(5):
            for shot in range(3):
                value = 20 * burst + 5 * shot + (cls == "dog") * 120
                Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(root / cls / f"b{burst}_{shot}.png")


def test_split_by_regex_keeps_photo_bursts_together(tmp_path: Path):
    """`split_by` over image paths puts every burst in one split and names the samples by file."""
    write_bursts(tmp_path / "train")
    write_bursts(tmp_path / "test")
    module = image_folder(str(tmp_path / "train"), str(tmp_path / "test"), (4, 4))
    settings = PipelineSettings(8, validation_split=0.3, seed=0, split_by=r"(\w+)/b(\d)_\d\.png$")
    data = make_pipelines(module, settings)
    train = {name.rsplit("_", 1)[0] for name in data.names["train"]}
    validation = {name.rsplit("_", 1)[0] for name in data.names["validation"]}
    assert train and validation and not train & validation
    assert data.sizes["validation"] == len(data.names["validation"]) == len(labels_of(data.validation))
    assert data.sample_name("test", 0).endswith("cat/b0_0.png")


def test_split_by_a_regex_that_misses_a_file(tmp_path: Path):
    """A `split_by` pattern that some file path does not match names the file."""
    write_bursts(tmp_path / "train")
    write_bursts(tmp_path / "test")
    module = image_folder(str(tmp_path / "train"), str(tmp_path / "test"), (4, 4))
    with pytest.raises(DataError, match=r"matches no group in 15 sample name\(s\), e.g. '.*dog/b"):
        make_pipelines(module, PipelineSettings(8, validation_split=0.3, seed=0, split_by=r"cat/b(\d)"))


def test_split_by_a_csv_column(tmp_path: Path):
    """`split_by` naming a CSV column keeps each patient's rows in one split, rows named file:line."""
    rows = "\n".join(f"{i % 7},{i},{i % 2}" for i in range(42))
    (tmp_path / "train.csv").write_text(f"patient,x,y\n{rows}\n")
    (tmp_path / "test.csv").write_text("patient,x,y\n1,2,0\n3,4,1\n")
    module = csv(str(tmp_path / "train.csv"), str(tmp_path / "test.csv"), label="y", features=["x"])
    data = make_pipelines(module, PipelineSettings(8, validation_split=0.3, seed=1, split_by="patient"))
    patients = {
        side: {(int(n.rsplit(":", 1)[1]) - 2) % 7 for n in data.names[side]} for side in ("train", "validation")
    }
    assert patients["train"] and patients["validation"] and not patients["train"] & patients["validation"]
    assert data.names["train"][0].endswith("train.csv:2") or data.names["validation"][0].endswith("train.csv:2")


def test_without_a_seed_the_random_split_is_the_same_every_time():
    """A recipe without a seed still holds out the same samples in every build (resume, workers, evaluate)."""
    settings = PipelineSettings(8, shuffle=True, validation_split=0.25, seed=None, split="random")
    arrays = synthetic(num_train=40, num_test=8, num_classes=2, shape=(2, 2))
    first, second = (labels_of(make_pipelines(arrays, settings).validation) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_split_by_on_arrays_says_they_name_no_samples():
    """In-memory arrays have no file names nor columns to group by: a DataError says what to use instead."""
    settings = PipelineSettings(8, validation_split=0.25, seed=0, split_by="(x)")
    arrays = synthetic(num_train=40, num_test=8, num_classes=2, shape=(2, 2))
    with pytest.raises(DataError, match=r"`dataset.split_by: '\(x\)'` needs a dataset that names its samples"):
        make_pipelines(arrays, settings)


def test_a_split_without_validation_split_warns(tiny_recipe):
    """`dataset.split` with no `validation_split` holds nothing out, and a warning says so."""
    from framework.recipe.loader import load_recipe
    from framework.training.run import build_run

    with pytest.warns(UserWarning, match=r"`dataset.split` and `dataset.split_by` hold nothing out here: `dataset"):
        build_run(load_recipe(tiny_recipe(), ["dataset.split=random"]))
