"""`image_folder`: images in one sub-folder per class, decoded as training reads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from framework.data.checks import check_all, failure_message
from framework.data.module import DataModule, Shard, usable_shard
from framework.errors import DataError
from framework.recipe.schema import require

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
RESCALE_TO_UNIT = [{"name": "Rescaling", "args": {"scale": 1 / 255}}]
Interpolation = Literal["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"]


def image_folder(
    train: str,
    test: str,
    image_size: tuple[int, int],
    validation: str | None = None,
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb",
    interpolation: Interpolation = "bilinear",
    verify: bool = True,
    seed: int = 0,
    shard: Shard | None = None,
) -> DataModule:
    """Images in one sub-folder per class (``train/cat/1.jpg``), as Keras's ``image_dataset_from_directory``.

    Args:
        train, test, validation: folders holding one sub-folder per class with its JPEG, PNG,
            BMP or GIF files (sub-folders of those are searched too; other files are skipped).
            The class names are the sorted sub-folder names of `train`; `test` and
            `validation` must have the same ones.
        image_size: ``[height, width]`` every image is resized to (with `interpolation`).
        color_mode: ``grayscale`` (1 channel), ``rgb`` (3) or ``rgba`` (4).
        verify: decode every file once before training (in parallel) to find corrupt ones.
        seed: orders the training files randomly (so that `dataset.validation_split`, which
            holds out the last samples, holds out a random subset); test and validation files
            stay in sorted order.
        shard: given by Tapeline under ``multi_worker`` (never in a recipe): this worker
            reads (and verifies) only ``shard.of(training files in that random order)``; with
            fewer images than workers, all of them (`usable_shard` warns). Validation and
            test images are read whole.

    Returns:
        A `DataModule` whose elements are ``(image, label)``: float32 images of shape
        ``(height, width, channels)`` with values 0..255 (the default preprocessing,
        ``Rescaling(1/255)``, scales them to [0, 1]) and int32 class ids. `files` is the
        training files in the order the training split reads them (this worker's, with `shard`).

    Raises:
        DataError: a folder is missing or has no class sub-folders, a class folder has no
            images, the class folders of `test` or `validation` differ from those of
            `train`, or (with `verify`) an image cannot be decoded.
    """
    require(
        image_size=(image_size, len(image_size) == 2 and min(image_size) >= 1, "[height, width], two positive sizes")
    )
    class_names, train_files, train_labels = _list_folder(Path(train).expanduser())
    order = np.random.default_rng(seed).permutation(len(train_files))
    train_files, train_labels = [train_files[i] for i in order], train_labels[order]
    shard = usable_shard(shard, len(train_files), f"image_folder: train folder '{train}'")
    if shard is not None:
        train_files, train_labels = shard.of(train_files), shard.of(train_labels)
    splits = {"train": (train_files, train_labels)}
    for split, folder in (("validation", validation), ("test", test)):
        if folder is not None:
            names, files, labels = _list_folder(Path(folder).expanduser())
            _check_same_classes(class_names, names, train, folder, split)
            splits[split] = (files, labels)
    if verify:
        _verify([file for files, _ in splits.values() for file in files], CHANNELS[color_mode])
    load = _loader(tuple(image_size), CHANNELS[color_mode], interpolation)
    datasets = {split: load(files, labels) for split, (files, labels) in splits.items()}
    return DataModule.from_splits(
        datasets,
        source=f"image_folder ({train})",
        class_names=class_names,
        sizes={split: len(files) for split, (files, _) in splits.items()},
        preprocess=RESCALE_TO_UNIT,
        files=train_files,
        shard=shard,
    )


def _list_folder(folder: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Class names (sorted sub-folder names), image files (sorted within each class) and int32 labels."""
    if not folder.is_dir():
        raise DataError(f"image_folder: '{folder}' is not a folder")
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(
            f"image_folder: '{folder}' has no class sub-folders (expected one folder per class holding its images)"
        )
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        images = sorted(
            str(p) for p in (folder / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not images:
            raise DataError(
                f"image_folder: class folder '{folder / name}' has no images (looked for {', '.join(IMAGE_SUFFIXES)} "
                "files)"
            )
        files += images
        labels += [label] * len(images)
    return classes, files, np.array(labels, np.int32)


def _check_same_classes(expected: list[str], found: list[str], train: str, folder: str, split: str) -> None:
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        differences = [f"missing {', '.join(missing)}"] * bool(missing) + [f"extra {', '.join(extra)}"] * bool(extra)
        raise DataError(
            f"image_folder: the class folders of {split} folder '{folder}' differ from those of train folder "
            f"'{train}' ({'; '.join(differences)}); each split needs one sub-folder per class, with the same names"
        )


def _decode(path: tf.Tensor, channels: int) -> tf.Tensor:
    import tensorflow as tf

    return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)


def _verify(files: list[str], channels: int) -> None:
    """`DataError` naming the files that cannot be read or decoded, found in one parallel pass."""
    import tensorflow as tf

    results, failures = check_all(files, lambda path: tf.shape(_decode(path, channels)))
    if len(results) < len(files):
        message = failure_message("corrupt or unreadable image", failures, len(files) - len(results))
        raise DataError(f"image_folder: {message} (remove or replace them)")


def load_image(path: tf.Tensor, size: tuple[int, int], channels: int, interpolation: str) -> tf.Tensor:
    """The image file `path` (a string tensor) as training reads it: decoded with `channels`
    channels, resized to `size` (height, width) with `interpolation`; float32 ``(height, width,
    channels)`` with values 0..255. Raises TensorFlow's error for a file that cannot be decoded."""
    import tensorflow as tf

    image = tf.image.resize(_decode(path, channels), size, method=interpolation)
    return tf.ensure_shape(tf.cast(image, tf.float32), (*size, channels))


def _loader(
    size: tuple[int, int], channels: int, interpolation: str
) -> Callable[[list[str], np.ndarray], tf.data.Dataset]:
    """A function turning file names and labels into a dataset of decoded, resized images and labels."""
    import tensorflow as tf

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return load_image(path, size, channels, interpolation), label

    def dataset(files: list[str], labels: np.ndarray) -> tf.data.Dataset:
        slices = tf.data.Dataset.from_tensor_slices((tf.constant(files, tf.string), tf.constant(labels, tf.int32)))
        return slices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    return dataset
