"""`image_folder`: images in one sub-folder per class, decoded as a person sees them (`framework.data.images`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from framework.data.checks import check_all, failure_message
from framework.data.images import (
    CHANNELS,
    IMAGE_SUFFIXES,
    as_bytes,
    display,
    image_files,
    is_hidden,
    load_image,
    routes,
    warn_hidden,
)
from framework.data.images import unreadable_reason as reason
from framework.data.module import DataModule, Shard, usable_shard
from framework.errors import DataError
from framework.recipe.paths import DataPath
from framework.recipe.schema import require

if TYPE_CHECKING:
    import tensorflow as tf

RESCALE_TO_UNIT = [{"name": "Rescaling", "args": {"scale": 1 / 255}}]
Interpolation = Literal["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"]
Split = tuple[list[str], np.ndarray]  # (files, int32 labels)


def image_folder(
    train: DataPath.folder,
    test: DataPath.folder,
    image_size: tuple[int, int],
    validation: DataPath.folder | None = None,
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb",
    interpolation: Interpolation = "bilinear",
    verify: bool = True,
    on_bad_file: Literal["error", "skip"] = "error",
    seed: int = 0,
    shard: Shard | None = None,
) -> DataModule:
    """Images in one sub-folder per class (``train/cat/1.jpg``), as Keras's ``image_dataset_from_directory``.

    Args:
        train, test, validation: folders holding one sub-folder per class with its image files
            (JPEG, PNG, BMP, GIF, WebP, TIFF; sub-folders of those are searched too; other
            files are skipped). Hidden files and folders (``._*``, ``.DS_Store``,
            ``.ipynb_checkpoints/``, ``__MACOSX/``) are left out, and their number said once.
            The class names are the sorted sub-folder names of `train`; `test` and
            `validation` must have the same ones.
        image_size: ``[height, width]`` every image is resized to (with `interpolation`).
        color_mode: ``grayscale`` (1 channel), ``rgb`` (3) or ``rgba`` (4): every image is
            converted to it, after its EXIF orientation is applied (`framework.data.images`).
        verify: decode every file once before training (in parallel) to find unreadable ones.
        on_bad_file: with `verify`, ``error`` (exit 2 naming every unreadable file) or ``skip``
            (leave them out, with a warning naming them; ``run.json`` counts them).
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
            `train`, or (with `verify` and ``on_bad_file: error``) a file cannot be decoded.
    """
    require(
        image_size=(image_size, len(image_size) == 2 and min(image_size) >= 1, "[height, width], two positive sizes"),
        on_bad_file=(
            on_bad_file,
            verify or on_bad_file == "error",
            "'error' when `verify` is false (skipping needs it)",
        ),
    )
    class_names, (train_files, train_labels), hidden = _list_folder(Path(train).expanduser())
    order = np.random.default_rng(seed).permutation(len(train_files))
    train_files, train_labels = [train_files[i] for i in order], train_labels[order]
    shard = usable_shard(shard, len(train_files), f"image_folder: train folder '{train}'")
    if shard is not None:
        train_files, train_labels = shard.of(train_files), shard.of(train_labels)
    splits = {"train": (train_files, train_labels)}
    for split, folder in (("validation", validation), ("test", test)):
        if folder is not None:
            names, splits[split], more = _list_folder(Path(folder).expanduser())
            _check_same_classes(class_names, names, train, folder, split)
            hidden += more
    warn_hidden(hidden, [f for f in (train, validation, test) if f is not None])
    skipped = {"hidden files": hidden} if hidden else {}
    if verify:
        splits, unreadable = _verified(splits, CHANNELS[color_mode], on_bad_file)
        skipped |= {"unreadable files": unreadable} if unreadable else {}
    load = _loader(tuple(image_size), CHANNELS[color_mode], interpolation)
    datasets = {
        split: load(files, labels, routes(files, CHANNELS[color_mode])) for split, (files, labels) in splits.items()
    }
    return DataModule.from_splits(
        datasets,
        source=f"image_folder ({train})",
        class_names=class_names,
        sizes={split: len(files) for split, (files, _) in splits.items()},
        preprocess=RESCALE_TO_UNIT,
        files=splits["train"][0],
        names={split: files for split, (files, _) in splits.items()},
        labels=splits["train"][1],
        shard=shard,
        skipped=skipped,
        reading={
            "kind": "images",
            "image_size": list(image_size),
            "channels": CHANNELS[color_mode],
            "interpolation": interpolation,
        },
    )


def _list_folder(folder: Path) -> tuple[list[str], Split, int]:
    """Class names (sorted sub-folder names), image files (sorted within each class) with int32 labels, and the
    number of hidden entries left out."""
    if not folder.is_dir():
        raise DataError(f"image_folder: '{display(str(folder))}' is not a folder")
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not is_hidden(Path(entry.name)))
    if not classes:
        raise DataError(
            f"image_folder: '{display(str(folder))}' has no class sub-folders (expected one folder per class holding "
            "its images)"
        )
    files: list[str] = []
    labels: list[int] = []
    hidden = sum(is_hidden(Path(entry.name)) for entry in folder.iterdir())
    for label, name in enumerate(classes):
        images, more = image_files(folder / name)
        if not images:
            raise DataError(
                f"image_folder: class folder '{display(str(folder / name))}' has no images (looked for "
                f"{', '.join(IMAGE_SUFFIXES)} files)"
            )
        files += images
        labels += [label] * len(images)
        hidden += more
    return classes, (files, np.array(labels, np.int32)), hidden


def _check_same_classes(expected: list[str], found: list[str], train: str, folder: str, split: str) -> None:
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        differences = [f"missing {', '.join(missing)}"] * bool(missing) + [f"extra {', '.join(extra)}"] * bool(extra)
        raise DataError(
            f"image_folder: the class folders of {split} folder '{folder}' differ from those of train folder "
            f"'{train}' ({'; '.join(differences)}); each split needs one sub-folder per class, with the same names"
        )


def _verified(splits: dict[str, Split], channels: int, on_bad_file: str) -> tuple[dict[str, Split], int]:
    """`splits` without the files that cannot be decoded, found in one parallel pass, and their number.

    Raises:
        DataError: with ``on_bad_file: error``, naming every unreadable file and why.
    """
    import tensorflow as tf

    from framework.data.images import decode

    files = [file for split_files, _ in splits.values() for file in split_files]
    results, _ = check_all(
        as_bytes(files), lambda path: tf.shape(decode(tf.io.read_file(path), channels)), explain=False
    )
    bad = [file for index, file in enumerate(files) if index not in results]
    if not bad:
        return splits, 0
    explained = [(display(file), reason(file, channels)) for file in bad]
    message = failure_message("unreadable image file", explained, len(bad))
    if on_bad_file == "error":
        raise DataError(f"image_folder: {message} (remove or replace them, or set `dataset.args.on_bad_file: skip`)")
    warnings.warn(f"image_folder: left out {message}", stacklevel=3)
    unusable = set(bad)
    kept = {}
    for split, (split_files, labels) in splits.items():
        keep = [i for i, file in enumerate(split_files) if file not in unusable]
        if not keep:
            raise DataError(f"image_folder: no readable image is left in the {split} split ({message})")
        kept[split] = ([split_files[i] for i in keep], labels[keep])
    return kept, len(bad)


def _loader(
    size: tuple[int, int], channels: int, interpolation: str
) -> Callable[[list[str], np.ndarray, np.ndarray], tf.data.Dataset]:
    """A function turning files, labels and decoding routes into a dataset of decoded, resized images and labels."""
    import tensorflow as tf

    def load(path: tf.Tensor, label: tf.Tensor, way: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return load_image(path, size, channels, interpolation, way), label

    def dataset(files: list[str], labels: np.ndarray, ways: np.ndarray) -> tf.data.Dataset:
        slices = tf.data.Dataset.from_tensor_slices(
            (tf.constant(as_bytes(files), tf.string), tf.constant(labels, tf.int32), tf.constant(ways, tf.int32))
        )
        return slices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    return dataset
