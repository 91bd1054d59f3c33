"""The tf.data pipelines a run trains and evaluates on, built from `Arrays` or a `DataModule`.

`make_pipelines` checks the labels against the recipe's task (`framework.data.tasks`), then for every
split: batches, casts the labels to what the task's loss takes, applies the recipe's
preprocessing layers (and, for training only, its augmentation layers) and prefetches. The
training split is shuffled in an order that depends only on (seed, epoch), so a resumed run
sees the order an uninterrupted run would. Inputs are changed by nothing else: no scaling, no
added axes.

Under a multi-worker strategy, a `DataModule` whose training split holds only this worker's
files (`DataModule.shard`) is batched by the per-worker batch and read by this worker alone
(`framework.data.sharding`); every other split is shared out by data: each worker builds the same
batches and keeps its share of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import tensorflow as tf

from framework.data.arrays import Arrays, check_arrays, leaves, take
from framework.data.checks import tf_reason
from framework.data.layers import Layer, Layers, Transform, chain_each
from framework.data.module import DataModule, Shard, sample_name
from framework.data.shuffling import epoch_order, epoch_shuffle, random_generators, seeded_batches
from framework.data.splits import SplitRule, held_out, hold_out
from framework.data.splits import rows as split_rows
from framework.data.tasks import Target, relabel, resolve_targets
from framework.errors import DataError

PREFETCH_BATCHES = 2
LABEL_SAMPLE = 4096  # labels of a streamed dataset read to check them against the task


@dataclass(frozen=True)
class PipelineSettings:
    """What the recipe says about the data: batch sizes (global), shuffling, validation, task."""

    batch_size: int
    shuffle: bool = True
    seed: int | None = None
    validation_split: float = 0.0
    limit: int | None = None
    task: str | dict[str, str] = "auto"
    cache: str = "none"
    split: str = "last"
    split_by: str | None = None
    eval_batch_size: int | None = None  # of the validation and test batches; None: `batch_size`

    @property
    def evaluation_batch(self) -> int:
        """The global batch size of the validation and test splits."""
        return self.eval_batch_size or self.batch_size

    @property
    def rule(self) -> SplitRule:
        """How `validation_split` holds out samples (`framework.data.splits`)."""
        return SplitRule(self.validation_split, self.split, self.split_by)


@dataclass
class Pipelines:
    """The batched pipelines a run trains and evaluates on, and what models and plugins need to know.

    Elements are ``(inputs, labels)`` or ``(inputs, labels, sample_weight)``: `train` batched by
    the global `batch_size`, the others (validation, test, the training split in order for
    reports) by the global `eval_batch_size`. `targets` has one `Target` per label (per model output).

    With `shard` set (a multi-worker run reading its training files by file), `train` is this
    worker's own share, batched by ``batch_size // shard.count`` and cut to `train_steps`
    batches (the same on every worker); ``sizes["train"]`` then counts the samples all workers
    together train on per epoch.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    targets: list[Target]
    sizes: dict[str, int]
    source: str
    epoch: tf.Variable  # the training epoch, set by the run; picks each epoch's shuffle order
    batch_size: int
    eval_batch_size: int
    preprocess: Layers = ()  # the preprocessing layers, adapted (for export: raw inputs in)
    shard: Shard | None = None  # set when `train` holds only this worker's files
    train_steps: int | None = None  # training batches per epoch, when fixed by the workers' agreement
    skipped: dict[str, int] = field(default_factory=dict)  # what the reader left out, by reason (run.json)
    raw_test: tf.data.Dataset | None = None  # the test inputs as the reader gives them (unbatched, no labels)
    read_targets: list[Target] = field(default_factory=list)  # the targets as the labels give them (before outputs)
    reading: dict[str, Any] | None = None  # how to read new inputs as the reader does (`DataModule.reading`)
    train_in_order: tf.data.Dataset | None = None  # the training split unshuffled, not augmented (reports on it)
    audit: Any = None  # the leakage audit's `framework.data.audit.AuditReport`, when it ran
    names: dict[str, list[str] | None] = field(default_factory=dict)  # sample names by split (`sample_name`)

    def sample_name(self, split: str, index: int) -> str:
        """Where sample `index` of `split` (in the unshuffled split's order) comes from: a file path, ``file:line``,
        or ``split[index]`` when the reader names none."""
        return sample_name(self.names, split, index)

    def in_order(self, split: str) -> tf.data.Dataset | None:
        """The batched ``"test"``, ``"validation"`` or ``"train"`` split, unshuffled and not augmented (None when the
        recipe has none)."""
        return self.train_in_order if split == "train" else getattr(self, split)

    @property
    def input_shape(self) -> tuple[int | None, ...] | dict[str, tuple[int | None, ...]] | tuple:
        """Per-sample shape of the (preprocessed) inputs: a tuple, or a dict/tuple of them for several inputs."""
        return tf.nest.map_structure(lambda spec: tuple(spec.shape[1:]), self.train.element_spec[0])

    @property
    def weighted(self) -> bool:
        """Whether training elements carry sample weights."""
        return len(self.train.element_spec) == 3

    @property
    def any_weighted(self) -> bool:
        """Whether the elements of any split (train, validation, test) carry sample weights."""
        splits = (self.train, self.validation, self.test)
        return any(split is not None and len(split.element_spec) == 3 for split in splits)

    @property
    def class_names(self) -> list[str] | None:
        """The single target's class names (None for several targets or none known)."""
        return self.targets[0].class_names if len(self.targets) == 1 else None

    @property
    def num_classes(self) -> int | None:
        """The number of classes of a single classification target, else None."""
        target = self.targets[0]
        return target.units if len(self.targets) == 1 and target.task == "classification" else None

    @property
    def steps_per_epoch(self) -> int | None:
        """Training batches per epoch, the last partial one included (None when the size is unknown)."""
        if self.train_steps is not None:
            return self.train_steps
        size = self.sizes.get("train")
        return None if size is None else -(-size // self.batch_size)

    def map_labels(self, transform: Transform) -> Pipelines:
        """This data with `transform` applied to every split's batched labels."""

        def apply(dataset: tf.data.Dataset | None) -> tf.data.Dataset | None:
            return None if dataset is None else dataset.map(lambda x, y, *w: (x, transform(y), *w))

        return replace(
            self,
            train=apply(self.train),
            validation=apply(self.validation),
            test=apply(self.test),
            train_in_order=apply(self.train_in_order),
        )


def as_tensors(x: Any, y: Any, weights: np.ndarray | None) -> Any:
    """``(x, y)`` or ``(x, y, weights)`` as constant tensors, built once for the datasets gathering from them."""
    return tf.nest.map_structure(tf.constant, (x, y) if weights is None else (x, y, weights.astype(np.float32)))


def array_batches(tensors: Any, count: int, batch_size: int, order: tf.data.Dataset | None = None) -> tf.data.Dataset:
    """Batches gathered from `count` rows of in-memory `tensors` (`as_tensors`) in `order` (default: as stored); the
    last partial batch is kept."""
    order = order if order is not None else tf.data.Dataset.range(count)
    return order.batch(batch_size).map(lambda rows: tf.nest.map_structure(lambda t: tf.gather(t, rows), tensors))


def finish(
    batches: tf.data.Dataset,
    targets: list[Target],
    preprocess: Transform | None,
    augment: Transform | None,
    own: bool = False,
    reseed: Callable[[tf.Tensor], None] | None = None,
) -> tf.data.Dataset:
    """Labels cast for their loss, then `preprocess` and `augment` on the inputs, prefetched; `reseed(index)` sets the
    augmentation's random state for the batch of that index in its epoch (`framework.data.shuffling.seeded_batches`).

    tf.data's autotuner is off: destroying an iterator (every epoch does) otherwise waits for
    the autotune thread's next wake-up, which held epochs back by seconds (a 6 s job ended at
    the 5.1 s or 10.2 s marks). Under a multi-worker strategy, tf.data's auto-sharding is
    ``DATA`` (each worker builds every batch and keeps its share), or ``OFF`` when `own`: the
    batches are this worker's own already (its files).
    """

    def transform(index: tf.Tensor, batch: tuple) -> tuple:
        x, y, *weights = batch
        x = preprocess(x) if preprocess is not None else x
        if augment is not None:
            if reseed is not None:
                reseed(index)
            x = augment(x)
        return (x, cast_labels(y, targets), *weights)

    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.OFF if own else policy.DATA
    return batches.enumerate().map(transform).prefetch(PREFETCH_BATCHES).with_options(options)


def cast_labels(y: Any, targets: list[Target]) -> Any:
    """Labels as their task's loss takes them: int32 class ids ``(batch,)``, else float32 ``(batch, units)``."""
    by_name = {t.name: t for t in targets}

    def cast(name: str | None, labels: tf.Tensor) -> tf.Tensor:
        target = by_name[name]
        if target.task == "classification":
            return tf.reshape(tf.cast(labels, tf.int32), [-1])
        return tf.reshape(tf.cast(labels, tf.float32), [-1, target.units])

    return {k: cast(k, v) for k, v in y.items()} if isinstance(y, dict) else cast(None, y)


def from_arrays(
    arrays: Arrays, settings: PipelineSettings, epoch: tf.Variable, seed: int
) -> tuple[dict[str, tf.data.Dataset | None], list[Target], dict[str, int], dict[str, list[str]]]:
    """Batched splits of in-memory arrays (validation: as `settings.rule` says), their targets and sizes.

    ``"train_in_order"`` is the training split unshuffled, for reports on it.
    """
    check_arrays(arrays)
    rows = slice(None, settings.limit)
    x, y = take(arrays.x_train, rows), take(arrays.y_train, rows)
    w = arrays.sample_weight_train[rows] if arrays.sample_weight_train is not None else None
    count = len(leaves(x)[0][1])
    mask = np.zeros(count, bool)
    if settings.validation_split:
        labels = leaves(y)[0][1] if settings.rule.needs_labels and len(leaves(y)) == 1 else None
        mask = held_out(count, settings.rule, settings.seed or 0, arrays.source, labels)
    targets = resolve_targets(y, arrays.y_test, settings.task, arrays.class_names, arrays.source, complete=True)
    y, y_test = relabel(y, targets), relabel(arrays.y_test, targets)
    head, tail = split_rows(mask, settings.rule)
    held = int(mask.sum())
    batch = settings.batch_size
    train = as_tensors(take(x, head), take(y, head), None if w is None else w[head])
    splits = {
        "train": array_batches(
            train, count - held, batch, epoch_order(count - held, seed, epoch) if settings.shuffle else None
        ),
        "train_in_order": array_batches(train, count - held, settings.evaluation_batch),
        "validation": array_batches(
            as_tensors(take(x, tail), take(y, tail), None if w is None else w[tail]), held, settings.evaluation_batch
        )
        if held
        else None,
        "test": array_batches(
            as_tensors(take(arrays.x_test, slice(None)), take(y_test, slice(None)), arrays.sample_weight_test),
            len(leaves(arrays.x_test)[0][1]),
            settings.evaluation_batch,
        ),
    }
    return splits, targets, {"train": count - held, "validation": held, "test": len(leaves(arrays.x_test)[0][1])}, {}


def label_sample(dataset: tf.data.Dataset, source: str, count: int = LABEL_SAMPLE) -> Any:
    """The labels of the first `count` samples of an unbatched dataset, as NumPy (a dict for named labels).

    Raises:
        DataError: the samples cannot be read (a record, row or file a check before did not reach).
    """
    labels = dataset.map(lambda x, y, *w: y).batch(count).take(1)
    try:
        return next(labels.as_numpy_iterator())
    except tf.errors.OpError as error:
        raise DataError(
            f"{source}: reading the first {count:,} samples to check their labels failed: {tf_reason(error)}"
        ) from None


def cached(dataset: tf.data.Dataset, cache: str, split: str) -> tf.data.Dataset:
    """`dataset` kept after its first full pass: ``"memory"``, or files ``<cache>.<split>*`` (tf.data's cache);
    ``"none"``: as it is.

    The cache sits before the shuffle, so the order of each epoch does not change.
    """
    if cache == "none":
        return dataset
    return dataset.cache() if cache == "memory" else dataset.cache(f"{cache}.{split}")


def from_module(
    module: DataModule, settings: PipelineSettings, epoch: tf.Variable, seed: int
) -> tuple[dict[str, tf.data.Dataset | None], list[Target], dict[str, int], dict[str, list[str]]]:
    """Batched splits of a streamed `DataModule`, their targets (checked on the first labels) and known sizes.

    A training split holding only this worker's files (`DataModule.shard`) is batched by this
    worker's part of the global batch, and cached under a name of its own.
    """
    train, validation, sizes = module.train, module.validation, dict(module.sizes)
    names = {split: list(module.names[split][: settings.limit if split == "train" else None]) for split in module.names}
    if settings.limit:
        train = train.take(settings.limit)
        sizes["train"] = min(settings.limit, sizes.get("train", settings.limit))
    if validation is None and settings.validation_split:
        if "train" not in sizes:
            raise DataError(
                f"{module.source}: `dataset.validation_split` needs the training split's size, which the dataset does "
                "not give; give it a validation split"
            )
        train, validation = hold_out(module, train, sizes, settings.rule, settings.seed or 0, names)
    targets = resolve_targets(
        label_sample(train, module.source),
        label_sample(module.test, module.source),
        settings.task,
        module.class_names,
        module.source,
    )
    shard = module.shard
    train = cached(train, settings.cache, "train" if shard is None else f"train-worker{shard.index}")
    validation = None if validation is None else cached(validation, settings.cache, "validation")
    in_order = train
    if settings.shuffle:
        train = epoch_shuffle(train, module.shuffle_buffer, seed, epoch)

    def batched(dataset: tf.data.Dataset | None, split: str, size: int) -> tf.data.Dataset | None:
        if (
            dataset is not None and split in sizes
        ):  # a known size: Keras knows the steps (progress bars, no end-of-data warning)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(sizes[split]))
        own = split == "train" and shard is not None
        return None if dataset is None else dataset.batch(size // shard.count if own else size)

    splits = {
        "train": batched(train, "train", settings.batch_size),
        "train_in_order": batched(in_order, "train", settings.evaluation_batch),
        "validation": batched(validation, "validation", settings.evaluation_batch),
        "test": batched(module.test, "test", settings.evaluation_batch),
    }
    return splits, targets, sizes, names


def make_pipelines(
    source: Arrays | DataModule, settings: PipelineSettings, preprocess: Layers = (), augment: Layers = ()
) -> Pipelines:
    """Checked, batched, preprocessed pipelines for training (shuffled, augmented), validation and test.

    `preprocess` and `augment` are lists of layers, or for several inputs a dict (or tuple) of
    lists, one per input (see `chain_each`). A DataModule's `encoder` comes before the
    `preprocess` layers (which then see its output).

    Raises:
        DataError: the data cannot be trained on (see `check_arrays`, `framework.data.tasks.check_target`).
    """
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    seed = settings.seed if settings.seed is not None else int(np.random.default_rng().integers(2**31))
    build = from_arrays if isinstance(source, Arrays) else from_module
    splits, targets, sizes, names = build(source, settings, epoch, seed)
    shard = None if isinstance(source, Arrays) else source.shard
    preprocess_layers = preprocess if isinstance(preprocess, (dict, tuple)) else list(preprocess)
    encoder = getattr(source, "encoder", None)
    if encoder is not None:  # its inputs may be a dict; what the layers see is its one output
        preprocess_layers = [Layer(encoder), *preprocess_layers]
    preprocess = chain_each(preprocess_layers, splits["train"])
    preprocessed = (
        splits["train"] if preprocess is None else splits["train"].map(lambda x, *rest: (preprocess(x), *rest))
    )
    reseed = seeded_batches(random_generators(augment), seed, epoch)
    augment = chain_each(augment if isinstance(augment, (dict, tuple)) else list(augment), preprocessed)
    return Pipelines(
        train=finish(splits["train"], targets, preprocess, augment, shard is not None, reseed),
        validation=None if splits["validation"] is None else finish(splits["validation"], targets, preprocess, None),
        test=finish(splits["test"], targets, preprocess, None),
        train_in_order=finish(splits["train_in_order"], targets, preprocess, None, own=shard is not None),
        names=names,
        targets=targets,
        sizes=sizes,
        source=source.source,
        epoch=epoch,
        batch_size=settings.batch_size,
        eval_batch_size=settings.evaluation_batch,
        preprocess=preprocess_layers,
        shard=shard,
        skipped=dict(getattr(source, "skipped", {})),
        raw_test=raw_test_inputs(source),
        read_targets=targets,
        reading=getattr(source, "reading", None),
    )


def raw_test_inputs(source: Arrays | DataModule) -> tf.data.Dataset:
    """The test inputs of `source` as its reader gives them, one sample per element (no labels)."""
    if isinstance(source, Arrays):
        x = source.x_test
        return tf.data.Dataset.from_tensor_slices(tuple(x) if isinstance(x, list) else x)
    return source.test.map(lambda x, *rest: x)
