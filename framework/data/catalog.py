"""Built-in datasets: readers returning `Arrays` (NumPy train and test splits), and their checks.

The builders return `Arrays` (the file readers of `framework.data` return a `DataModule`);
`framework.data.arrays.check_arrays` checks them, and `framework.data.pipelines` turns them
into `tf.data` pipelines. Every file problem is a `DataError` raised before training starts.
This module needs only NumPy, so recipes are checked without starting TensorFlow.
"""

from __future__ import annotations

import dataclasses
import gzip
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from framework.data.arrays import Arrays
from framework.errors import DataError
from framework.recipe.paths import DataPath
from framework.recipe.schema import require

if TYPE_CHECKING:
    from framework.data.module import DataModule


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = Path.home() / ".keras" / "datasets"
IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_SPLITS = {"x_train": "train-images", "y_train": "train-labels", "x_test": "t10k-images", "y_test": "t10k-labels"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_WEIGHT_KEYS = ("sample_weight_train", "sample_weight_test")
RESCALE = [{"name": "Rescaling", "args": {"scale": 1 / 255}}]  # the image datasets' default preprocessing


def read_idx(file: Path) -> np.ndarray:
    """An array from an IDX file (MNIST format, gzipped or not), checking header and length."""
    try:
        raw = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"cannot read IDX file '{file}': {error}") from None
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] not in IDX_DTYPES:
        raise DataError(f"'{file}' is not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"IDX file '{file}' is truncated or corrupt: header says {shape} ({expected:,} bytes), file has "
            f"{len(raw):,} bytes"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(directory: Path, stem: str) -> Path:
    matches = sorted(directory.glob(f"{stem}[.-]idx?-ubyte*"))
    if not matches:
        raise DataError(f"no '{stem}-idx?-ubyte[.gz]' file in '{directory}' (expected MNIST-format IDX files)")
    return matches[0]


def read_idx_dir(directory: Path, source: str) -> Arrays:
    """The four MNIST-format IDX files of `directory` (train/t10k images and labels)."""
    if not directory.is_dir():
        raise DataError(f"{source}: '{directory}' is not a directory")
    arrays = {key: read_idx(_idx_file(directory, stem)) for key, stem in IDX_SPLITS.items()}
    return Arrays(**arrays, source=f"{source} ({directory})")


def read_npz(file: Path, source: str) -> Arrays:
    """A ``.npz`` file holding ``x_train``, ``y_train``, ``x_test`` and ``y_test``."""
    if not file.is_file():
        raise DataError(f"{source}: file '{file}' does not exist")
    try:
        with np.load(file, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataError(f"'{file}' lacks {', '.join(missing)}; it has {', '.join(archive.files) or 'nothing'}")
            found = [k for k in (*NPZ_KEYS, *NPZ_WEIGHT_KEYS) if k in archive.files]
            return Arrays(**{k: archive[k] for k in found}, source=f"{source} ({file})")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read '{file}' as a .npz archive: {error}") from None


def read_path(path: str, source: str) -> Arrays:
    """A ``.npz`` file or a directory of IDX files."""
    location = Path(path).expanduser()
    return read_idx_dir(location, source) if location.is_dir() else read_npz(location, source)


def as_images(arrays: Arrays) -> Arrays:
    """MNIST-style grey images: ``(N, H, W)`` inputs get a channel axis, ``(N, H, W, 1)``, and the
    default preprocessing is ``Rescaling(1/255)`` (uint8 pixels to [0, 1])."""
    arrays.x_train, arrays.x_test = (x[..., np.newaxis] if x.ndim == 3 else x for x in (arrays.x_train, arrays.x_test))
    arrays.preprocess = RESCALE
    return arrays


def keras_download(name: str, how_to_provide: str) -> Arrays:
    """A dataset from Keras's loader (which downloads into, then reads from, ~/.keras/datasets)."""
    import keras  # only for the download

    loader: Callable = getattr(keras.datasets, name).load_data
    try:
        (x_train, y_train), (x_test, y_test) = loader()
    except Exception as error:  # Keras raises a bare Exception for download failures
        raise DataError(f"cannot load {name} with Keras's downloader ({error}).\n{how_to_provide}") from None
    return Arrays(x_train, y_train, x_test, y_test, source=f"{name} (Keras cache {KERAS_CACHE})")


def mnist(path: DataPath.file_or_folder | None = None) -> Arrays:
    """MNIST digits: Keras's loader and cache, or `path` (mnist.npz or a directory of IDX files).

    Images ``(28, 28, 1)`` uint8; default preprocessing ``Rescaling(1/255)`` (see `as_images`).
    """
    if path:
        return as_images(read_path(path, "mnist"))
    return as_images(
        keras_download(
            "mnist",
            "MNIST is downloaded once into ~/.keras/datasets/mnist.npz. Offline, copy mnist.npz there "
            "from a machine where `python -c 'import keras; keras.datasets.mnist.load_data()'` worked, "
            "or give the file or a directory of the four IDX files in the recipe: "
            "`dataset: {name: mnist, args: {path: /data/mnist.npz}}` (or `--set dataset.args.path=...`).",
        )
    )


def fashion_mnist(path: DataPath.file_or_folder | None = None) -> Arrays:
    """Fashion-MNIST: `path`, else Debian's dataset-fashion-mnist files, else Keras's loader.

    Images ``(28, 28, 1)`` uint8; default preprocessing ``Rescaling(1/255)`` (see `as_images`).
    """
    if path:
        arrays = read_path(path, "fashion_mnist")
    elif FASHION_MNIST_DIR.is_dir():
        arrays = read_idx_dir(FASHION_MNIST_DIR, "fashion_mnist")
    else:
        arrays = keras_download(
            "fashion_mnist",
            f"Install the files with `apt-get install -y dataset-fashion-mnist` (into {FASHION_MNIST_DIR}), "
            "or set `dataset.args.path` to a directory of the IDX files or a .npz file.",
        )
    arrays = as_images(arrays)
    arrays.class_names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    return arrays


def idx(path: DataPath.folder) -> Arrays:
    """Any directory of MNIST-format IDX files: {train,t10k}-{images,labels}-idx?-ubyte[.gz].

    3-D image arrays get a channel axis; default preprocessing ``Rescaling(1/255)`` (see `as_images`).
    """
    return as_images(read_idx_dir(Path(path).expanduser(), "idx"))


def npz(path: DataPath.file) -> Arrays:
    """Any .npz file with x_train, y_train, x_test and y_test arrays (and optional sample_weight_train/_test).

    The arrays reach the model as stored: no scaling, no added axes (see `dataset.preprocess`).
    """
    return read_npz(Path(path).expanduser(), "npz")


def synthetic(
    num_train: int = 512,
    num_test: int = 128,
    shape: tuple[int, ...] = (28, 28),
    num_classes: int = 10,
    noise: float = 0.3,
    seed: int = 0,
) -> Arrays:
    """Generated, learnable images: one random pattern per class plus noise, as uint8 (for tests).

    A 2-D `shape` (height, width) gives grey images ``(height, width, 1)``; default
    preprocessing ``Rescaling(1/255)``.
    """
    require(
        num_train=(num_train, num_train >= 1, "positive"),
        num_test=(num_test, num_test >= 1, "positive"),
        shape=(shape, min(shape, default=0) >= 1, "a list of positive sizes"),
        num_classes=(num_classes, num_classes >= 2, "at least 2"),
        noise=(noise, 0 <= noise <= 1, "from 0 to 1"),
    )
    rng = np.random.default_rng(seed)
    patterns = rng.random((num_classes, *shape))

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, num_classes, count)
        images = (1 - noise) * patterns[labels] + noise * rng.random((count, *shape))
        return (images * 255).astype(np.uint8), labels.astype(np.int32)

    (x_train, y_train), (x_test, y_test) = split(num_train), split(num_test)
    arrays = Arrays(
        x_train, y_train, x_test, y_test, source="synthetic", class_names=[str(c) for c in range(num_classes)]
    )
    return as_images(arrays) if len(shape) == 2 else dataclasses.replace(arrays, preprocess=RESCALE)


def builtins() -> dict[str, Callable[..., Arrays | DataModule]]:
    """The built-in dataset builders by name (the file readers import TensorFlow only when called)."""
    from framework.data.image_folder import image_folder
    from framework.data.sklearn_tables import sklearn
    from framework.data.tables import csv
    from framework.data.tfds import tfds
    from framework.data.tfrecord import tfrecord

    return {
        "mnist": mnist,
        "fashion_mnist": fashion_mnist,
        "idx": idx,
        "npz": npz,
        "synthetic": synthetic,
        "image_folder": image_folder,
        "csv": csv,
        "tfrecord": tfrecord,
        "sklearn": sklearn,
        "tfds": tfds,
    }
