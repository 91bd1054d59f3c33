"""Tests for the `tfrecord` dataset: sorted shards, parsing from a recipe's feature spec, checks before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from data_helpers import example, floats, ints

from framework.data.checks import data_failure
from framework.data.module import Shard
from framework.data.tfrecord import FILES_READ_AT_ONCE, Feature, tfrecord
from framework.errors import DataError, RecipeError
from framework.recipe.loader import load_recipe

SPEC = {"pixels": {"dtype": "float32", "shape": [2]}, "label": {"dtype": "int64"}}


def write_shards(folder: Path, counts: list[int], compression: str = "") -> None:
    """Shard k holds `counts[k]` examples: pixels (k, i), label 10 k + i, weight k + i / 10."""
    folder.mkdir(exist_ok=True)
    for k, count in enumerate(counts):
        with tf.io.TFRecordWriter(str(folder / f"part-{k}.tfrecord"), compression) as writer:
            for i in range(count):
                writer.write(example(pixels=floats(k, i), label=ints(10 * k + i), weight=floats(k + i / 10)))


def test_shards_are_read_in_sorted_order_interleaved(tmp_path):
    """Files sorted, read record by record in turn; one input tensor, int32 labels; sizes counted."""
    write_shards(tmp_path / "train", [2, 3, 1])
    write_shards(tmp_path / "test", [2])
    data = tfrecord(str(tmp_path / "train" / "part-*"), str(tmp_path / "test" / "*"), SPEC, "label")
    assert data.files == [str(tmp_path / "train" / f"part-{k}.tfrecord") for k in range(3)]
    assert data.sizes == {"train": 6, "test": 2} and data.source == f"tfrecord ({tmp_path / 'train' / 'part-*'})"
    assert FILES_READ_AT_ONCE >= 3
    elements = list(data.train.as_numpy_iterator())
    assert [int(y) for _, y in elements] == [0, 10, 20, 1, 11, 12]
    np.testing.assert_array_equal(elements[1][0], [1, 0])
    assert data.train.element_spec[0].shape == (2,) and data.train.element_spec[1].dtype.name == "int32"


def test_several_inputs_and_targets_and_compression(tmp_path):
    """Two inputs give a dict, two labels a dict of targets (float32 kept); gzip files are read."""
    write_shards(tmp_path / "train", [3], "GZIP")
    spec = {**SPEC, "weight": Feature("float32"), "extra": Feature("int64", [1])}
    with tf.io.TFRecordWriter(str(tmp_path / "test.tfrecord.gz"), "GZIP") as writer:
        writer.write(example(pixels=floats(5, 6), label=ints(3), weight=floats(0.5), extra=ints(9)))
    data = tfrecord(
        str(tmp_path / "test.tfrecord.gz"),
        str(tmp_path / "test.tfrecord.gz"),
        spec,
        ["label", "weight"],
        compression="gzip",
    )
    [(x, y)] = list(data.test.as_numpy_iterator())
    assert set(x) == {"pixels", "extra"} and x["extra"].tolist() == [9]
    assert y == {"label": 3, "weight": pytest.approx(0.5)}
    with pytest.raises(DataError, match=r"1 unreadable or unparsable file: '.*part-0.tfrecord' \(.*\)"):
        tfrecord(str(tmp_path / "train" / "*"), str(tmp_path / "test.tfrecord.gz"), SPEC, "label")


def test_image_features_are_decoded_and_resized(tmp_path):
    """A string feature with `image` is decoded to float32 (height, width, channels)."""
    png = tf.io.encode_png(np.full((4, 6, 1), 200, np.uint8)).numpy()
    with tf.io.TFRecordWriter(str(tmp_path / "images.tfrecord")) as writer:
        writer.write(example(image=tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])), label=ints(1)))
    spec = {"image": {"dtype": "string", "image": [2, 3, 3]}, "label": {"dtype": "int64"}}
    data = tfrecord(str(tmp_path / "images.tfrecord"), str(tmp_path / "images.tfrecord"), spec, "label")
    [(image, label)] = list(data.test.as_numpy_iterator())
    assert image.shape == (2, 3, 3) and image.dtype == np.float32 and label == 1
    np.testing.assert_allclose(image, 200)


def test_no_file_empty_files_and_bad_records_are_named(tmp_path):
    """No match shows the pattern; a spec that does not fit, or a damaged file, names the file and reason."""
    write_shards(tmp_path / "train", [2, 0])
    test = str(tmp_path / "train" / "part-0.tfrecord")
    with pytest.raises(DataError, match=r"tfrecord: no file matches '.*nothing-\*'"):
        tfrecord(str(tmp_path / "nothing-*"), test, SPEC, "label")
    with pytest.raises(DataError, match=r"tfrecord: the 1 file\(s\) matching '.*part-1.tfrecord' hold no records"):
        tfrecord(str(tmp_path / "train" / "part-1.tfrecord"), test, SPEC, "label")
    assert tfrecord(str(tmp_path / "train" / "*"), test, SPEC, "label").sizes["train"] == 2  # an empty shard is fine
    wrong = {"pixels": {"dtype": "float32", "shape": [3]}, "label": {"dtype": "int64"}}
    with pytest.raises(
        DataError,
        match=r"1 unreadable or unparsable file: '.*part-0.tfrecord' \(record 0 \(from 0\) has 2 value\(s\) in "
        r"feature 'pixels', but the spec says float32 of shape \[3\] \(3 value\(s\); `dataset.args.features.pixels",
    ):
        tfrecord(test, test, wrong, "label")
    with pytest.raises(DataError, match=r"record 0 \(from 0\) has no feature 'colour' \(the spec says int64 of shape"):
        tfrecord(test, test, {**SPEC, "colour": {"dtype": "int64"}}, "label")
    with pytest.raises(DataError, match=r"has feature 'pixels' as float32, but the spec says int64 of shape \[2\]"):
        tfrecord(
            test, test, {**SPEC, "label": {"dtype": "float32"}, "pixels": {"dtype": "int64", "shape": [2]}}, "label"
        )
    (tmp_path / "damaged.tfrecord").write_bytes(bytes(range(64)))
    with pytest.raises(DataError, match=r"'.*damaged.tfrecord' \(corrupted record at 0"):
        tfrecord(str(tmp_path / "damaged.tfrecord"), test, SPEC, "label")


def write_with_bad_record(path: Path, count: int, bad: int) -> None:
    """`count` records of 2 pixels and a label; record `bad` (from 0) has 3 pixels."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(count):
            writer.write(example(pixels=floats(*([i] * (3 if i == bad else 2))), label=ints(i % 2)))


def test_a_bad_record_deep_in_a_file_is_named_before_training(tmp_path):
    """Every record is parsed before training: record 70 of 96 with 3 values where the spec says 2 is named."""
    write_with_bad_record(tmp_path / "train.tfrecord", 96, 70)
    with pytest.raises(DataError, match=r"train.tfrecord' \(record 70 \(from 0\) has 3 value\(s\) in feature 'pixels'"):
        tfrecord(str(tmp_path / "train.tfrecord"), str(tmp_path / "train.tfrecord"), SPEC, "label")


def bad_record_recipe(tmp_path: Path, write_recipe, audit: str) -> Path:
    """A recipe over a training file whose record 4,150 of 4,200 does not parse, with ``check: first``."""
    write_with_bad_record(tmp_path / "train.tfrecord", 4200, 4150)
    write_with_bad_record(tmp_path / "test.tfrecord", 8, 99)
    return write_recipe(f"""\
        name: bad
        seed: 0
        task: classification
        dataset:
          name: tfrecord
          args:
            train: {tmp_path / "train.tfrecord"}
            test: {tmp_path / "test.tfrecord"}
            label: label
            features: {{pixels: {{dtype: float32, shape: [2]}}, label: {{dtype: int64}}}}
            check: first
          audit: {audit}
        model: {{name: mlp, args: {{units: [4]}}}}
        training: {{epochs: 1, batch_size: 256, output_dir: {tmp_path / "runs"}, jit_compile: false}}
        """)


def test_with_check_first_a_bad_record_met_later_exits_2_without_traceback(tmp_path, write_recipe, capsys):
    """With `check: first` a record past the labels checked before training (4,096) is met when the pipeline reaches
    it (here by the first step's read-ahead): exit 2 with a data error naming the feature, no traceback."""
    from framework.cli import main

    code = main(["train", str(bad_record_recipe(tmp_path, write_recipe, "off"))])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "Graph execution error" not in err
    assert f"tapeline: error: tfrecord ({tmp_path / 'train.tfrecord'}): reading the data failed: Key: pixels." in err


def test_a_bad_record_met_by_the_leakage_audit_exits_2_without_traceback(tmp_path, write_recipe, capsys):
    """The leakage audit reads every record before training: one that does not parse stops it with exit 2 and a data
    error naming the file and the feature, no traceback."""
    from framework.cli import main

    code = main(["validate", str(bad_record_recipe(tmp_path, write_recipe, "warn"))])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (
        f"tapeline: error: tfrecord ({tmp_path / 'train.tfrecord'}): reading the data for the leakage audit failed: "
        "Key: pixels." in err
    )


def test_a_data_error_inside_fit_is_a_data_error():
    """An error TensorFlow raises from the input pipeline's iterator becomes a DataError naming the epoch."""
    error = tf.errors.InvalidArgumentError(None, None, "{{function_node x}} Key: x. Bad. [Op:IteratorGetNext] name: ")
    failure = data_failure(error, "tfrecord (t)", 1)
    assert (
        isinstance(failure, DataError)
        and str(failure) == "tfrecord (t): reading the data failed in epoch 2: Key: x. Bad."
    )
    assert data_failure(ValueError("IteratorGetNext"), "t", 0) is None


@pytest.mark.parametrize(
    ("spec", "label", "message"),
    [
        ({}, "label", r"`features` must be at least one feature"),
        (SPEC, "lable", r"`label` must be one or more of the features \(pixels, label\) \(got \['lable'\]\)"),
        (
            {"label": {"dtype": "int64"}},
            "label",
            r"`features` must be more than the labels: at least one feature is the input \(got 'label'\)",
        ),
        (
            {**SPEC, "name": {"dtype": "string"}},
            "name",
            r"`label` must be int64 or float32 features, not string ones \(got \['name'\]\)",
        ),
        (
            {**SPEC, "x": {"dtype": "float32", "shape": [-1]}},
            "label",
            r"`features.x.shape` must be a list of sizes of 0 or more \(got \[-1\]\)",
        ),
        (
            {**SPEC, "x": {"dtype": "int64", "image": [2, 2, 1]}},
            "label",
            r"`features.x.image` must be \[height, width, channels\] \(channels 1, 3 or 4\), on a string feature of "
            r"shape \[\]",
        ),
    ],
)
def test_bad_specs(tmp_path, spec, label, message):
    """Spec mistakes are ValueErrors naming the key (reported at the recipe's dataset line)."""
    with pytest.raises(ValueError, match=message):
        tfrecord(str(tmp_path / "*"), str(tmp_path / "*"), spec, label)


def test_recipe_checks_feature_dtypes(write_recipe):
    """The recipe checker knows the feature spec: a bad dtype or key is reported at its line."""
    recipe = write_recipe("""\
        name: records
        dataset:
          name: tfrecord
          args:
            train: data/*.tfrecord
            test: data/*.tfrecord
            label: label
            features:
              pixels: {dtype: float64, shape: [4]}
              label: {dtype: int64, shap: []}
        model: mlp
        """)
    with pytest.raises(
        RecipeError,
        match=r"(?s)recipe.yaml:9: `dataset.args.features.pixels.dtype` must be one of 'float32', 'int64', 'string' "
        r"\(got 'float64'\).*recipe.yaml:10: unknown key `dataset.args.features.label.shap`; allowed: dtype, "
        r"shape, image; did you mean 'shape'\?",
    ):
        load_recipe(recipe)


def test_a_shard_reads_and_counts_only_its_own_files(tmp_path):
    """With Shard(1, 2) only files 1 and 3 are opened (0 and 2 are corrupt); with fewer files than workers, all, with a
    warning."""
    write_shards(tmp_path / "train", [2, 3, 1, 4])
    for k in (0, 2):
        (tmp_path / "train" / f"part-{k}.tfrecord").write_bytes(b"not a TFRecord file")
    pattern, test = str(tmp_path / "train" / "part-*"), str(tmp_path / "train" / "part-1.tfrecord")
    data = tfrecord(pattern, test, SPEC, "label", shard=Shard(1, 2))
    assert data.files == [str(tmp_path / "train" / f"part-{k}.tfrecord") for k in (1, 3)]
    assert data.shard == Shard(1, 2) and data.sizes == {"train": 7, "test": 3}
    assert sorted(int(y) for _, y in data.train.as_numpy_iterator()) == [10, 11, 12, 30, 31, 32, 33]
    with pytest.raises(DataError, match=r"tfrecord: 2 unreadable or unparsable files: '.*part-0.tfrecord'"):
        tfrecord(pattern, test, SPEC, "label")  # without the shard, the corrupt files are read
    with pytest.warns(
        UserWarning,
        match=r"tfrecord: train pattern '.*part-1.tfrecord' has 1 file\(s\) for 2 workers: every worker reads all of "
        r"them",
    ):
        whole = tfrecord(test, test, SPEC, "label", shard=Shard(0, 2))
    assert whole.shard is None and whole.sizes["train"] == 3
    write_shards(tmp_path / "empty", [2, 0])
    with pytest.raises(
        DataError, match=r"tfrecord: the 1 file\(s\) matching '.*empty/\*' that worker 1 of 2 reads hold no records"
    ):
        tfrecord(str(tmp_path / "empty" / "*"), test, SPEC, "label", shard=Shard(1, 2))


def test_a_recipe_cannot_set_the_shard(write_recipe):
    """`shard` comes from the run, never from the recipe's args."""
    recipe = write_recipe("""\
        name: records
        dataset: {name: tfrecord, args: {train: a, test: b, label: label, features: {x: {dtype: float32}, label: {dtype:
        int64}}, shard: 1}}
        model: mlp
        """)
    with pytest.raises(
        RecipeError,
        match=r"unknown key `dataset.args.shard`; allowed: train, test, features, label, validation, compression",
    ):
        load_recipe(recipe)
