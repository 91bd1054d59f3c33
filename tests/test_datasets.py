"""Tests for the dataset readers, checks and tf.data pipelines."""

from __future__ import annotations

import gzip
from pathlib import Path

import keras
import numpy as np
import pytest

from framework import datasets
from framework.datasets import Arrays, check_arrays, read_idx, synthetic
from framework.pipelines import make_data
from framework.errors import DataError


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Writes `array` (uint8) as an IDX file, gzipped when `compress`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_idx_dir(directory: Path, arrays: Arrays, compress: bool = True) -> Path:
    """Writes the four MNIST-style IDX files of `arrays` into `directory`."""
    suffix = ".gz" if compress else ""
    for key, stem in datasets.IDX_SPLITS.items():
        kind = "idx3" if key.startswith("x") else "idx1"
        write_idx(directory / f"{stem}-{kind}-ubyte{suffix}", getattr(arrays, key), compress)
    return directory


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory_round_trip(tmp_path, compress):
    """IDX files, gzipped or not, read back as the arrays written."""
    arrays = synthetic(num_train=20, num_test=10, shape=(4, 5))
    read = datasets.idx(str(write_idx_dir(tmp_path, arrays, compress)))
    np.testing.assert_array_equal(read.x_train, arrays.x_train)
    np.testing.assert_array_equal(read.y_test, arrays.y_test)


def test_truncated_idx_is_reported(tmp_path):
    """A truncated IDX file names the file and the sizes."""
    file = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 2, 2)), compress=False)
    file.write_bytes(file.read_bytes()[:-3])
    with pytest.raises(DataError, match=r"x-idx3-ubyte' is truncated or corrupt: header says \(3, 2, 2\) \(28 bytes\), file has 25"):
        read_idx(file)


def test_bad_magic_and_corrupt_gzip(tmp_path):
    """A file that is not IDX, or a broken gzip, is a DataError naming the file."""
    (tmp_path / "a-idx3-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataError, match="a-idx3-ubyte' is not an IDX file"):
        read_idx(tmp_path / "a-idx3-ubyte")
    (tmp_path / "b-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read IDX file .*b-idx3-ubyte.gz"):
        read_idx(tmp_path / "b-idx3-ubyte.gz")


def test_missing_idx_file_and_directory(tmp_path):
    """A directory without the expected files, or no directory, is reported."""
    with pytest.raises(DataError, match="no 'train-images-idx\\?-ubyte\\[.gz\\]' file in"):
        datasets.idx(str(tmp_path))
    with pytest.raises(DataError, match="idx: .*nowhere' is not a directory"):
        datasets.idx(str(tmp_path / "nowhere"))


def test_npz_reading_and_missing_keys(tmp_path):
    """A .npz file loads; one without the four arrays lists what it has."""
    arrays = synthetic(num_train=8, num_test=4)
    np.savez(tmp_path / "ok.npz", x_train=arrays.x_train, y_train=arrays.y_train, x_test=arrays.x_test, y_test=arrays.y_test)
    assert datasets.npz(str(tmp_path / "ok.npz")).x_train.shape == (8, 28, 28)
    np.savez(tmp_path / "bad.npz", images=arrays.x_train)
    with pytest.raises(DataError, match="lacks x_train, y_train, x_test, y_test; it has images"):
        datasets.npz(str(tmp_path / "bad.npz"))
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(DataError, match="cannot read .*junk.npz' as a .npz archive"):
        datasets.npz(str(tmp_path / "junk.npz"))
    with pytest.raises(DataError, match="file .*missing.npz' does not exist"):
        datasets.npz(str(tmp_path / "missing.npz"))


def test_mnist_offline_says_how_to_provide_the_file(monkeypatch):
    """Without network, mnist explains where to put mnist.npz and how to point the recipe at it."""

    def offline():
        raise Exception("URL fetch failure on https://example/mnist.npz: None -- Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match=r"(?s)cannot load mnist .*Name or service not known.*~/.keras/datasets/mnist.npz.*dataset.args.path"):
        datasets.mnist()


def test_mnist_and_fashion_mnist_accept_a_path(tmp_path, monkeypatch):
    """mnist reads a given IDX directory; fashion_mnist reads its default directory when present."""
    arrays = synthetic(num_train=10, num_test=5)
    write_idx_dir(tmp_path, arrays)
    assert datasets.mnist(str(tmp_path)).x_train.shape == (10, 28, 28)
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path)
    fashion = datasets.fashion_mnist()
    assert fashion.class_names[0] == "T-shirt/top" and len(fashion.y_test) == 5


BAD_ARRAYS = {
    "empty split": (dict(x_train=np.zeros((0, 2, 2))), "the train split is empty"),
    "length mismatch": (dict(y_train=np.zeros(3, int)), "the train split has 4 inputs but 3 labels"),
    "float labels": (dict(y_test=np.zeros(2)), "test labels must be a 1-D array of integer class ids"),
    "shape mismatch": (dict(x_test=np.zeros((2, 3, 3))), r"train inputs have shape \(2, 2\) but test inputs \(3, 3\)"),
    "negative label": (dict(y_test=np.array([0, -1])), r"labels must lie in 0..1 \(found -1..1\)"),
    "non-finite inputs": (dict(x_test=np.array([[[0.0, 1.0], [2.0, 3.0]], [[0.0, np.inf], [0.0, 0.0]]])), r"test inputs contain NaN or infinity \(first in sample 1\)"),
    "label beyond classes": (dict(y_train=np.array([0, 1, 2, 5]), class_names=["a", "b", "c"]), r"labels must lie in 0..2"),
}


@pytest.mark.parametrize("change, message", BAD_ARRAYS.values(), ids=BAD_ARRAYS.keys())
def test_bad_arrays_are_rejected_before_training(change, message):
    """Arrays that cannot be trained on give a DataError naming the source."""
    fields = dict(x_train=np.zeros((4, 2, 2)), y_train=np.array([0, 1, 0, 1]), x_test=np.zeros((2, 2, 2)), y_test=np.array([0, 1]))
    arrays = Arrays(**{**fields, **change}, source="mine")
    with pytest.raises(DataError, match="mine: " + message):
        check_arrays(arrays)


def test_pipeline_scales_adds_channel_and_keeps_last_batch():
    """Batches are float32 in [0, 1] with a channel axis, and the last partial batch is kept."""
    arrays = synthetic(num_train=70, num_test=10, shape=(5, 5), num_classes=4)
    data = make_data(arrays, batch_size=32, shuffle=True, seed=1, validation_split=0.0)
    batches = list(data.train.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [32, 32, 6]
    x = batches[0][0]
    assert x.dtype == np.float32 and x.shape == (32, 5, 5, 1) and 0.0 <= x.min() and x.max() <= 1.0
    assert (data.input_shape, data.num_classes, data.sizes) == ((5, 5, 1), 4, {"train": 70, "validation": 0, "test": 10})


def test_shuffle_depends_only_on_seed_and_epoch():
    """Each epoch's order is a function of (seed, epoch): new pipelines repeat it, epochs differ, nothing is lost."""
    arrays = synthetic(num_train=64, num_test=8, shape=(2, 2))

    def order(seed, epoch):
        data = make_data(arrays, 16, True, seed, 0.0)
        data.epoch.assign(epoch)
        return np.concatenate([x.reshape(len(x), -1) for x, _ in data.train.as_numpy_iterator()])

    np.testing.assert_array_equal(order(3, 2), order(3, 2))
    assert not np.array_equal(order(3, 0), order(3, 1))
    assert not np.array_equal(order(3, 0), order(4, 0))
    seen = np.rint(order(3, 5) * 255).astype(np.uint8)
    assert sorted(map(bytes, seen)) == sorted(map(bytes, arrays.x_train.reshape(64, -1)))


def test_cardinality_is_known():
    """The shuffled pipeline still knows its number of batches (Keras uses it for step counts)."""
    data = make_data(synthetic(num_train=70, num_test=8), 32, True, 0, 0.0)
    assert int(data.train.cardinality()) == 3


def test_validation_split_takes_the_last_samples():
    """The validation split is the last fraction of the training arrays, as in Keras."""
    arrays = synthetic(num_train=40, num_test=8, shape=(2, 2))
    data = make_data(arrays, 8, False, None, 0.25)
    labels = np.concatenate([y for _, y in data.validation.as_numpy_iterator()])
    np.testing.assert_array_equal(labels, arrays.y_train[30:])
    assert data.sizes == {"train": 30, "validation": 10, "test": 8}
    with pytest.raises(DataError, match="validation_split 0.01 leaves 0 of 40 samples"):
        make_data(arrays, 8, False, None, 0.01)


def test_pipelines_have_autotune_off():
    """Pipelines disable tf.data autotuning (its teardown stalls every epoch)."""
    data = make_data(synthetic(num_train=8, num_test=8), 4, True, 0, 0.0)
    assert data.train.options().autotune.enabled is False


def test_fashion_mnist_from_a_path_keeps_class_names(tmp_path):
    """Fashion-MNIST read from a given directory still names its classes."""
    write_idx_dir(tmp_path, synthetic(num_train=10, num_test=5))
    assert datasets.fashion_mnist(str(tmp_path)).class_names[-1] == "Ankle boot"
