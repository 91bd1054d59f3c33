"""Which training samples `dataset.validation_split` holds out: the last ones, a random, a stratified or a group split.

The choice is a boolean mask over the training samples in the reader's order, drawn from the
recipe's seed alone (0 when it has none), so a resumed run (and every worker) holds out the same samples. Group keys
come from a CSV column (`DataModule.columns`) or a regular expression over the sample names
(`DataModule.names`, file paths); see `group_keys`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from framework.data.checks import tf_reason
from framework.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

    from framework.data.module import DataModule

Names = dict[str, list[str] | None]  # sample names by split (`DataModule.names`)

SPLITS = ("last", "random", "stratified")


@dataclass(frozen=True)
class SplitRule:
    """How to hold out validation samples: `fraction` of them, chosen by `method` or grouped by `split_by`."""

    fraction: float
    method: str = "last"
    split_by: str | None = None

    @property
    def needs_labels(self) -> bool:
        """Whether the held-out rows depend on the training labels (a stratified split)."""
        return self.method == "stratified" and self.split_by is None


def held_out(
    count: int,
    rule: SplitRule,
    seed: int,
    source: str,
    labels: np.ndarray | None = None,
    groups: Sequence[str] = (),
) -> np.ndarray:
    """A boolean mask ``(count,)``: True for the training samples `rule` holds out for validation.

    `labels` (int class ids ``(count,)``) is needed by ``stratified``, `groups` (one key per
    sample) by a `split_by` rule.

    Raises:
        DataError: the split leaves no sample on one side, or `labels`/`groups` do not fit.
    """
    if rule.split_by is not None:
        if len(groups) != count:
            raise DataError(
                f"{source}: `dataset.split_by: {rule.split_by!r}` needs a dataset that names its samples (files, "
                "CSV columns: image_folder, csv); this one does not: use `dataset.split: random` or `stratified`"
            )
        mask = _by_group(np.asarray(groups), rule.fraction, seed)
    elif rule.method == "stratified":
        mask = _stratified(_class_ids(labels, count), rule.fraction, seed)
    else:
        mask = np.zeros(count, bool)
        chosen = int(count * rule.fraction)
        rows = np.arange(count - chosen, count) if rule.method == "last" else _rng(seed).permutation(count)[:chosen]
        mask[rows] = True
    kept = int(mask.sum())
    if not 0 < kept < count:
        raise DataError(
            f"{source}: validation_split {rule.fraction} leaves {kept} of {count} samples for validation "
            f"({_describe(rule)}); it must leave some on each side"
        )
    return mask


def _describe(rule: SplitRule) -> str:
    return f"split_by {rule.split_by!r}" if rule.split_by is not None else f"split {rule.method!r}"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0x5E1D])  # its own stream: the shuffle order uses the seed itself


def _class_ids(labels: np.ndarray | None, count: int) -> np.ndarray:
    if labels is None:
        raise DataError("`dataset.split: stratified` needs one class label per sample (classification or binary)")
    labels = np.asarray(labels)
    if labels.ndim > 1 and labels.shape[1:] != (1,):
        raise DataError(
            f"`dataset.split: stratified` needs one class label per sample; the labels have shape {labels.shape[1:]} "
            "per sample (multilabel or several values): use 'random' or `split_by`"
        )
    labels = labels.reshape(count)
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise DataError("`dataset.split: stratified` needs class labels; the labels are real numbers (regression)")
    return labels.astype(np.int64)


def _stratified(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """About `fraction` of every class (rounded per class), drawn at random."""
    rng = _rng(seed)
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        mask[rng.permutation(rows)[: int(round(len(rows) * fraction))]] = True
    return mask


def _by_group(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whole groups, drawn in a random order until `fraction` of the samples is reached."""
    keys, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = _rng(seed).permutation(len(keys))
    taken = np.cumsum(sizes[order]) <= round(len(groups) * fraction)
    taken[0] = True  # at least one group, however large
    chosen = np.zeros(len(keys), bool)
    chosen[order[taken]] = True
    return chosen[inverse]


def group_keys(
    split_by: str,
    names: Sequence[str] | None,
    column: Callable[[str], list[str] | None] | None,
    source: str,
) -> list[str]:
    """Each training sample's group for `split_by`: the CSV column of that name, else the regex's match in its name.

    Raises:
        DataError: `split_by` is neither a column nor a valid regular expression matching every sample name.
    """
    values = column(split_by) if column is not None else None
    if values is not None:
        return values
    if names is None:
        raise DataError(
            f"{source}: `dataset.split_by: {split_by!r}` is not a column of the training file, and the dataset gives "
            "no sample file names to match it against"
        )
    try:
        pattern = re.compile(split_by)
    except re.error as error:
        raise DataError(
            f"{source}: `dataset.split_by: {split_by!r}` is not a column of the training file nor a regular "
            f"expression ({error})"
        ) from None
    keys, unmatched = [], []
    for name in names:
        match = pattern.search(name)
        if match is None:
            unmatched.append(name)
            continue
        keys.append(match.group(1) if pattern.groups else match.group(0))
    if unmatched:
        shown = ", ".join(f"'{n}'" for n in unmatched[:3])
        raise DataError(
            f"{source}: `dataset.split_by: {split_by!r}` matches no group in {len(unmatched)} sample name(s), e.g. "
            f"{shown}; every training file path must match"
        )
    return keys


def rows(mask: np.ndarray, rule: SplitRule) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """The (training, validation) rows `mask` keeps: slices for the default 'last' split (NumPy views), else indices."""
    if rule.method == "last" and rule.split_by is None:
        cut = len(mask) - int(mask.sum())
        return slice(None, cut), slice(cut, None)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def filtered(dataset: tf.data.Dataset, mask: np.ndarray, keep: bool) -> tf.data.Dataset:
    """The elements of `dataset` whose position's `mask` value is `keep` (a validation or training side)."""
    import tensorflow as tf

    table = tf.constant(mask)
    chosen = dataset.enumerate().filter(lambda i, element: tf.equal(tf.gather(table, i), keep))
    return chosen.map(lambda i, element: element)


def pick(names: Sequence[str] | None, chosen: slice | np.ndarray) -> list[str] | None:
    """The names of the `chosen` rows (None stays None)."""
    if names is None:
        return None
    return list(names[chosen]) if isinstance(chosen, slice) else [names[i] for i in chosen]


def hold_out(
    module: DataModule, train: tf.data.Dataset, sizes: dict[str, int], rule: SplitRule, seed: int, names: Names
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The (training, validation) sides of a streamed training split of ``sizes["train"]`` samples; `sizes` and
    `names` are updated to match.

    A 'last' split takes and skips (as Keras); the others filter by position, reading the split
    once per side and epoch (``dataset.cache`` keeps the decoded samples after the first).
    """
    count = sizes["train"]
    labels = None
    if rule.needs_labels:
        labels = module.labels[:count] if module.labels is not None else all_labels(train)
    groups: Sequence[str] = ()
    if rule.split_by is not None:
        column = None if module.columns is None else lambda name: _first(module.columns(name), count)
        groups = group_keys(rule.split_by, names.get("train"), column, module.source)
    mask = held_out(count, rule, seed, module.source, labels, groups)
    train_rows, validation_rows = rows(mask, rule)
    if "train" in names:
        names["validation"] = pick(names["train"], validation_rows)
        names["train"] = pick(names["train"], train_rows)
    held = int(mask.sum())
    sizes["train"], sizes["validation"] = count - held, held
    if isinstance(train_rows, slice):
        return train.take(count - held), train.skip(count - held)
    return filtered(train, mask, False), filtered(train, mask, True)


def _first(values: list[str] | None, count: int) -> list[str] | None:
    return None if values is None else values[:count]


def all_labels(dataset: tf.data.Dataset) -> np.ndarray:
    """The labels of an unbatched ``(x, y, ...)`` dataset in one pass, ``(samples, ...)`` (one label per element)."""
    import tensorflow as tf

    batches = dataset.map(lambda x, y, *w: y).batch(4096)
    try:
        parts = list(batches.as_numpy_iterator())
    except tf.errors.OpError as error:
        raise DataError(f"reading the labels for `dataset.split: stratified` failed: {tf_reason(error)}") from None
    if parts and isinstance(parts[0], dict):
        raise DataError("`dataset.split: stratified` needs one label per sample; the dataset has several (a dict)")
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)
