"""`DataModule`: a dataset as unbatched ``tf.data`` pipelines, plus what models and plugins need to know."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_SHUFFLE_BUFFER = 10_000  # samples; bounds memory however large the dataset
S = TypeVar("S", bound=Sequence)


def sample_name(names: Mapping[str, Sequence[str] | None], split: str, index: int) -> str:
    """Where sample `index` of `split` (in the unshuffled split's order) comes from, by `names` (`DataModule.names`):
    a file path, ``file:line``, or ``split[index]`` when the reader names none."""
    named = names.get(split)
    return named[index] if named is not None and index < len(named) else f"{split}[{index}]"


@dataclass(frozen=True)
class Shard:
    """This worker's place among the `count` workers of a ``multi_worker`` run: it reads every
    `count`-th training file, starting at file `index` (``files[index::count]``).

    Tapeline passes one to a dataset builder that has a ``shard`` parameter, under a
    multi-worker strategy (see `framework.data.sharding.offered_shard`); elsewhere it passes None.
    """

    index: int
    count: int

    def of(self, items: S) -> S:
        """This worker's items of `items` (a list or NumPy array in a fixed order): ``items[index::count]``."""
        return items[self.index :: self.count]


def usable_shard(shard: Shard | None, files: int, what: str) -> Shard | None:
    """`shard`, or None (with a warning) when `files` files are too few to give every worker one.

    Readers call this before reading anything. Without a shard, every worker reads all files
    and keeps its share of each batch (data sharding), as tf.data's ``AUTO`` policy does when
    a dataset has fewer files than workers: a one-file dataset still trains on many workers.
    `what` names the files for the warning (``"tfrecord: train 'data/*.tfrecord'"``).
    """
    if shard is not None and files < shard.count:
        warnings.warn(
            f"{what} has {files} file(s) for {shard.count} workers: every worker reads all of them and keeps "
            f"its share of each batch (data sharding); split the data into {shard.count} or more files to shard it by "
            "file",
            stacklevel=2,
        )
        return None
    return shard


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
            files), for messages and tools: this worker's files when `shard` is set.
        shard: set when the training split holds only this worker's files (``shard.of(all
            files)``, its size in ``sizes["train"]``): a builder given a `Shard` returns it
            (or None after `usable_shard` declined). Tapeline then gives each worker's split to
            that worker alone, in batches of ``batch_size`` (per replica), every worker
            running as many steps as the smallest share allows (`framework.data.sharding`).
            Without it, under ``multi_worker`` every worker reads every file in the same
            order and keeps its share of each global batch (data sharding); validation and
            test splits are always shared out that way, so evaluation covers all of them.
            A builder that shards must not default to `preprocess` layers that adapt on the
            training split (each worker would adapt them on its own files).
        skipped: what the reader left out, by reason (``{"hidden files": 9, "unreadable
            files": 2}``); ``run.json`` records it.
        encoder: a Keras model from the raw inputs the splits yield (a CSV row's columns by
            name) to what the network and `dataset.preprocess` take, adapted by the reader on
            the training split; the pipelines apply it first, and every export holds it, so
            exported models take the raw inputs.
        reading: how new inputs are read as this reader reads them, for `tapeline predict` on a
            run whose data is gone (JSON data, saved in the run directory): ``{"kind": "images",
            "image_size", "channels", "interpolation"}`` or ``{"kind": "csv", ...}``; None:
            predict reads .npz files of raw inputs.
        names: where each sample of a split comes from, by its place in the (unshuffled) split:
            ``{"train": ["photos/cat/1.jpg", ...], "test": [...]}`` (file paths; ``file:line``
            for CSV rows). The leakage audit, `dataset.split_by` and the error report name
            samples by it; a split without names is named ``test[12]``.
        labels: the training split's class ids ``(samples,)`` when the reader knows them without
            decoding the samples (image folders), for a stratified split; else read in one pass.
        columns: reads one column of the training file by name as text, one value per sample
            (CSV), for `dataset.split_by`; None or a None result: no such column.
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
    shard: Shard | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    encoder: Any = None
    reading: dict[str, Any] | None = None
    names: dict[str, Sequence[str]] = field(default_factory=dict)
    labels: Any = None
    columns: Callable[[str], list[str] | None] | None = None

    @classmethod
    def from_splits(cls, datasets: dict[str, tf.data.Dataset], **fields: Any) -> DataModule:
        """A DataModule from ``{"train": ..., "test": ..., "validation": ...}`` (validation optional) and its other
        fields."""
        return cls(train=datasets["train"], test=datasets["test"], validation=datasets.get("validation"), **fields)
