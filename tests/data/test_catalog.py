"""Tests for the NumPy dataset readers and their checks."""

from __future__ import annotations

import gzip
from pathlib import Path

import keras
import numpy as np
import pytest

from framework.data import catalog as datasets
from framework.data.arrays import Arrays, check_arrays
from framework.data.catalog import read_idx, synthetic
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
        array = getattr(arrays, key)
        write_idx(directory / f"{stem}-{kind}-ubyte{suffix}", array[..., 0] if array.ndim == 4 else array, compress)
    return directory


@pytest.mark.parametrize("compress", [True, False])
def test_idx_directory_round_trip(tmp_path, compress):
    """IDX files, gzipped or not, read back as the images written, with a channel axis and a 1/255 default rescale."""
    arrays = synthetic(num_train=20, num_test=10, shape=(4, 5))
    read = datasets.idx(str(write_idx_dir(tmp_path, arrays, compress)))
    np.testing.assert_array_equal(read.x_train, arrays.x_train)
    assert read.x_train.shape == (20, 4, 5, 1) and read.preprocess == datasets.RESCALE
    np.testing.assert_array_equal(read.y_test, arrays.y_test)


def test_truncated_idx_is_reported(tmp_path):
    """A truncated IDX file names the file and the sizes."""
    file = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 2, 2)), compress=False)
    file.write_bytes(file.read_bytes()[:-3])
    with pytest.raises(
        DataError, match=r"x-idx3-ubyte' is truncated or corrupt: header says \(3, 2, 2\) \(28 bytes\), file has 25"
    ):
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
    """A .npz file loads as stored (no added axis, no rescale); one without the four arrays lists what it has."""
    arrays = synthetic(num_train=8, num_test=4)
    np.savez(
        tmp_path / "ok.npz", x_train=arrays.x_train, y_train=arrays.y_train, x_test=arrays.x_test, y_test=arrays.y_test
    )
    read = datasets.npz(str(tmp_path / "ok.npz"))
    assert read.x_train.shape == (8, 28, 28, 1) and read.preprocess == []
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
    with pytest.raises(
        DataError,
        match=r"(?s)cannot load mnist .*Name or service not known.*~/.keras/datasets/mnist.npz.*dataset.args.path",
    ):
        datasets.mnist()


def test_mnist_and_fashion_mnist_accept_a_path(tmp_path, monkeypatch):
    """mnist reads a given IDX directory; fashion_mnist reads its default directory when present."""
    arrays = synthetic(num_train=10, num_test=5)
    write_idx_dir(tmp_path, arrays)
    assert datasets.mnist(str(tmp_path)).x_train.shape == (10, 28, 28, 1)
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path)
    fashion = datasets.fashion_mnist()
    assert fashion.class_names[0] == "T-shirt/top" and len(fashion.y_test) == 5


BAD_ARRAYS = {
    "empty split": (dict(x_train=np.zeros((0, 2, 2))), "the train split is empty"),
    "length mismatch": (
        dict(y_train=np.zeros(3, int)),
        r"the train split's inputs and labels differ in length \(inputs: 4, labels: 3\)",
    ),
    "named input too short": (
        dict(
            x_train={"a": np.zeros((4, 2)), "b": np.zeros((3, 2))},
            x_test={"a": np.zeros((2, 2)), "b": np.zeros((2, 2))},
        ),
        r".*\(a: 4, b: 3, labels: 4\)",
    ),
    "shape mismatch": (dict(x_test=np.zeros((2, 3, 3))), r"train inputs have shapes \(2, 2\) but test inputs \(3, 3\)"),
    "label shape mismatch": (dict(y_test=np.zeros((2, 3))), r"train labels have shapes \(\) but test labels \(3,\)"),
    "non-finite inputs": (
        dict(x_test=np.array([[[0.0, 1.0], [2.0, 3.0]], [[0.0, np.inf], [0.0, 0.0]]])),
        r"test inputs contain NaN or infinity \(first in sample 1\)",
    ),
    "text inputs": (dict(x_train=np.array(["a", "b", "c", "d"])), r"train inputs must be a numeric array"),
}


@pytest.mark.parametrize("change, message", BAD_ARRAYS.values(), ids=BAD_ARRAYS.keys())
def test_bad_arrays_are_rejected_before_training(change, message):
    """Arrays that cannot be trained on give a DataError naming the source."""
    fields = dict(
        x_train=np.zeros((4, 2, 2)), y_train=np.array([0, 1, 0, 1]), x_test=np.zeros((2, 2, 2)), y_test=np.array([0, 1])
    )
    arrays = Arrays(**{**fields, **change}, source="mine")
    with pytest.raises(DataError, match="mine: " + message):
        check_arrays(arrays)


def test_fashion_mnist_from_a_path_keeps_class_names(tmp_path):
    """Fashion-MNIST read from a given directory still names its classes."""
    write_idx_dir(tmp_path, synthetic(num_train=10, num_test=5))
    assert datasets.fashion_mnist(str(tmp_path)).class_names[-1] == "Ankle boot"
