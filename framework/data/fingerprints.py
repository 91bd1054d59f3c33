"""Fingerprints of decoded samples, for the leakage audit: an exact hash of each input and label, and for images a
difference hash and a 16 x 16 grey thumbnail.

Each split is read once as the reader gives it (decoded images, parsed CSV rows, parsed TFRecord
features: before preprocessing), in batches, keeping 8 bytes per input and label hash and, for
images, 8 more and a 256-byte thumbnail: memory grows by at most 280 bytes a sample, whatever
the samples' size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.arrays import Arrays, take
from framework.data.checks import tf_reason
from framework.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

    from framework.data.module import DataModule

BATCH = 512  # samples hashed per step
HASH_SIZE = 8  # the difference hash compares 8 x 9 thumbnails: 64 bits
MARGIN = 0.04  # a brighter neighbour counts when brighter by this share of the image's range (JPEG noise stays below)
THUMBNAIL = 16  # thumbnails are 16 x 16 grey levels 0..255, stretched to the image's own range


@dataclass
class Fingerprints:
    """One split's hashes, by sample position: `inputs` and `labels` (uint64, exact: equal only for equal values),
    `images` (uint64 difference hashes of image inputs, else None), `thumbnails` (uint8 ``(samples, 256)``, else None)
    and `classes` (int64 class ids, else None)."""

    inputs: np.ndarray
    labels: np.ndarray
    images: np.ndarray | None
    thumbnails: np.ndarray | None
    classes: np.ndarray | None


def fingerprint_splits(source: Arrays | DataModule, limit: int | None = None) -> dict[str, Fingerprints]:
    """The `Fingerprints` of every split of `source` (``train``, ``validation`` when it has one, ``test``); of
    the first `limit` training samples only when given (the ones ``dataset.limit`` trains on).

    Raises:
        DataError: a split cannot be read (a record, row or image that the reader's checks did not reach).
    """
    import tensorflow as tf

    if isinstance(source, Arrays):
        x, y = (as_tuple(take(part, slice(None, limit))) for part in (source.x_train, source.y_train))
        splits = {
            "train": tf.data.Dataset.from_tensor_slices((x, y)),
            "test": tf.data.Dataset.from_tensor_slices((as_tuple(source.x_test), as_tuple(source.y_test))),
        }
    else:
        splits = {"train": source.train if limit is None else source.train.take(limit), "test": source.test}
        if source.validation is not None:
            splits["validation"] = source.validation
    try:
        return {split: fingerprint(dataset) for split, dataset in splits.items()}
    except tf.errors.OpError as error:
        described = getattr(source, "source", "the dataset")
        raise DataError(f"{described}: reading the data for the leakage audit failed: {tf_reason(error)}") from None


def as_tuple(structure: Any) -> Any:
    """A list of arrays as a tuple (tf.data reads a list as one stacked array)."""
    return tuple(structure) if isinstance(structure, list) else structure


def fingerprint(dataset: tf.data.Dataset) -> Fingerprints:
    """The `Fingerprints` of an unbatched ``(inputs, labels, ...)`` dataset, in one pass."""
    import tensorflow as tf

    x_spec, y_spec = dataset.element_spec[0], dataset.element_spec[1]
    image = isinstance(x_spec, tf.TensorSpec) and is_image(x_spec)
    single = isinstance(y_spec, tf.TensorSpec) and y_spec.dtype.is_integer and y_spec.shape.num_elements() == 1

    def hashes(x: Any, y: Any, *weights: Any) -> dict[str, tf.Tensor]:
        out = {"inputs": exact_hash(x), "labels": exact_hash(y)}
        if image:
            out["images"] = difference_hash(x)
            out["thumbnails"] = thumbnail(x)
        if single:
            out["classes"] = tf.reshape(tf.cast(y, tf.int64), [-1])
        return out

    batches = dataset.batch(BATCH).map(hashes, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    parts = list(batches.prefetch(2).as_numpy_iterator())
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
    empty = np.zeros(0, np.uint64)
    return Fingerprints(
        joined.get("inputs", empty),
        joined.get("labels", empty),
        joined.get("images"),
        joined.get("thumbnails"),
        joined.get("classes"),
    )


def is_image(spec: tf.TensorSpec) -> bool:
    """Whether one sample of `spec` is an image: ``(height, width, channels)`` numbers, at least 8 x 8."""
    shape = spec.shape
    big = shape.rank == 3 and all(d is not None and d >= HASH_SIZE for d in shape[:2])
    return big and (spec.dtype.is_floating or spec.dtype.is_integer)


def exact_hash(structure: Any) -> tf.Tensor:
    """A uint64 per sample of a batch (``(batch, ...)`` tensors or a dict/tuple of them): the same for equal values.

    Each tensor's bytes are hashed by ``tf.fingerprint`` (FarmHash Fingerprint64), and the
    hashes of several tensors (sorted by name) hashed again.
    """
    import tensorflow as tf

    tensors = [structure[k] for k in sorted(structure)] if isinstance(structure, dict) else tf.nest.flatten(structure)
    prints = [tf.fingerprint(tf.reshape(t, [tf.shape(t)[0], -1])) for t in tensors]
    combined = prints[0] if len(prints) == 1 else tf.fingerprint(tf.concat(prints, axis=1))
    return tf.bitcast(combined, tf.uint64)


def difference_hash(images: tf.Tensor) -> tf.Tensor:
    """The 64-bit difference hash of each image of ``(batch, height, width, channels)``, as uint64.

    The image is turned grey, shrunk to 8 x 9 by area averaging, and bit ``8 r + c`` is set
    where pixel ``(r, c + 1)`` is brighter than pixel ``(r, c)`` by more than `MARGIN` of the
    thumbnail's range (Krawetz's dHash, "Kind of Like That", hackerfactor.com 2013, with a margin
    so that flat backgrounds do not flip with JPEG noise). Copies, resized or re-encoded
    copies differ in a few bits at most.
    """
    import tensorflow as tf

    grey = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    small = tf.image.resize(grey, [HASH_SIZE, HASH_SIZE + 1], method="area")[..., 0]
    span = tf.reduce_max(small, axis=[1, 2], keepdims=True) - tf.reduce_min(small, axis=[1, 2], keepdims=True)
    bits = (small[:, :, 1:] - small[:, :, :-1]) > MARGIN * span
    weights = tf.bitwise.left_shift(tf.ones([HASH_SIZE * HASH_SIZE], tf.int64), tf.range(64, dtype=tf.int64))
    packed = tf.reduce_sum(tf.cast(tf.reshape(bits, [-1, HASH_SIZE * HASH_SIZE]), tf.int64) * weights, axis=1)
    return tf.bitcast(packed, tf.uint64)


def thumbnail(images: tf.Tensor) -> tf.Tensor:
    """Each image of ``(batch, height, width, channels)`` grey, shrunk to 16 x 16 by area averaging and stretched to
    0..255 over its own range: uint8 ``(batch, 256)``. Re-encoded copies differ by a few levels on average."""
    import tensorflow as tf

    grey = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    small = tf.image.resize(grey, [THUMBNAIL, THUMBNAIL], method="area")[..., 0]
    low = tf.reduce_min(small, axis=[1, 2], keepdims=True)
    span = tf.maximum(tf.reduce_max(small, axis=[1, 2], keepdims=True) - low, 1e-6)
    levels = tf.round((small - low) / span * 255.0)
    return tf.reshape(tf.cast(levels, tf.uint8), [-1, THUMBNAIL * THUMBNAIL])
