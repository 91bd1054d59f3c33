"""`DataModule`: a dataset as unbatched ``tf.data`` pipelines, plus what models and plugins need to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_SHUFFLE_BUFFER = 10_000  # samples; bounds memory however large the dataset


@dataclass
class DataModule:
    """A dataset given as ``tf.data`` pipelines of single samples, read lazily (from files).

    Each split yields elements ``(inputs, targets)`` or ``(inputs, targets, sample_weight)``.
    `inputs` and `targets` are tensors or dicts of tensors keyed by the model's input and output
    names; a sample weight is a float scalar. Splits are **unbatched and unshuffled**: Tapeline
    shuffles the training split (an order that depends only on the recipe's seed and the epoch,
    so resumed runs see the same order), batches, preprocesses and prefetches.

    Attributes:
        train: the training samples, in a fixed order.
        test: the test samples.
        source: what the data is, for messages (``"image_folder (/data/photos)"``).
        validation: the validation samples, or None (then `dataset.validation_split`, if set,
            holds out the last training samples, which needs ``sizes["train"]``).
        class_names: the class names, index = class id (classification tasks), or None.
        sizes: samples per split (``"train"``, ``"validation"``, ``"test"``) when known; a
            missing size makes the progress bar and `validation_split` unavailable.
        shuffle_buffer: samples held for shuffling the training split (memory bound).
        preprocess: the Keras preprocessing layers the dataset documents as its default, as
            recipe components (``[{"name": "Rescaling", "args": {"scale": 1/255}}]``); used
            when the recipe has no `dataset.preprocess`.
        files: the training split's files when it reads several (TFRecord shards, image
            files), for messages and tools; under ``multi_worker`` a DataModule is shared out
            by data (every worker reads all files and keeps its share of the batches).
    """

    train: tf.data.Dataset
    test: tf.data.Dataset
    source: str
    validation: tf.data.Dataset | None = None
    class_names: list[str] | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER
    preprocess: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] | None = None

    @classmethod
    def from_splits(cls, datasets: dict[str, tf.data.Dataset], **fields: Any) -> DataModule:
        """A DataModule from ``{"train": ..., "test": ..., "validation": ...}`` (validation optional) and its other fields."""
        return cls(train=datasets["train"], test=datasets["test"], validation=datasets.get("validation"), **fields)
