"""`tfrecord`: ``tf.train.Example`` records from TFRecord files, parsed with a feature spec from the recipe."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from framework.data.checks import check_all, failure_message
from framework.data.images import decode
from framework.data.module import DataModule, Shard, usable_shard
from framework.errors import DataError
from framework.recipe.paths import DataPath
from framework.recipe.schema import require

if TYPE_CHECKING:
    import tensorflow as tf

COMPRESSION = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}
FILES_READ_AT_ONCE = 4  # files interleaved record by record; fixed, so the order depends only on the files


@dataclass
class Feature:
    """One feature of the records: ``{dtype: float32, shape: [4]}``, as ``tf.io.FixedLenFeature``.

    `image`: for a ``string`` feature of shape ``[]`` holding an encoded image (JPEG, PNG, BMP,
    GIF, WebP, TIFF), ``[height, width, channels]``: the image is decoded upright with that many
    channels (`framework.data.images.decode`) and resized to that size (float32, values 0..255).
    """

    dtype: Literal["float32", "int64", "string"]
    shape: list[int] = field(default_factory=list)
    image: list[int] | None = None


def tfrecord(
    train: DataPath.pattern,
    test: DataPath.pattern,
    features: dict[str, Feature],
    label: str | list[str],
    validation: DataPath.pattern | None = None,
    compression: Literal["none", "gzip", "zlib"] = "none",
    check: Literal["all", "first"] = "all",
    shard: Shard | None = None,
) -> DataModule:
    """``tf.train.Example`` records from TFRecord files (``train: data/train-*.tfrecord``).

    Args:
        train, test, validation: file patterns (``*``, ``?``, ``[...]``); each split reads
            the matching files in sorted order, `FILES_READ_AT_ONCE` files interleaved.
        features: every feature to parse, by name: ``{pixels: {dtype: float32, shape: [784]},
            label: {dtype: int64}}`` (``shape`` defaults to ``[]``, a scalar); `Feature`.
        label: the label feature, or several (then the targets are a dict by name).
        compression: of the files: ``none``, ``gzip`` or ``zlib``.
        check: ``all``: every record is parsed once before training, so a record that does not
            fit the spec is named before anything trains; ``first``: only each file's first
            record (for data too large to read twice; a bad record is then an error when
            training reaches it).
        shard: given by Tapeline under ``multi_worker`` (never in a recipe): this worker's
            training files are ``shard.of(sorted files)``; with fewer files than workers,
            all of them (`usable_shard` warns). Validation and test files are read whole.

    Every file is read once before training to count its records (`sizes`) and to parse them
    (see `check`), so a wrong spec, a wrong compression or a damaged file is reported first;
    with a shard, only this worker's training files are read (and counted).

    Returns:
        A `DataModule` of ``(inputs, targets)``: the features that are not labels, as one
        tensor when there is one, else a dict by name (int64 and float32 as parsed, images
        float32); int64 labels as int32 class ids, float32 labels as they are. `files` is the
        sorted training files this worker reads; `shard` is set when that is not all of them.

    Raises:
        DataError: a pattern matches no file, a file cannot be read, or a record does not
            parse with `features` (naming the file, the record, the feature, and the dtype and
            shape expected and found).
        ValueError: a bad spec: a label that is not a feature, a string label, no feature
            left for the inputs, a negative size, an `image` on a non-string feature.
    """
    labels = [label] if isinstance(label, str) else list(label)
    specs = {name: spec if isinstance(spec, Feature) else Feature(**spec) for name, spec in features.items()}
    _check_spec(specs, labels)
    patterns = {"train": train, "validation": validation, "test": test}
    files = {split: _match(pattern) for split, pattern in patterns.items() if pattern is not None}
    shard = usable_shard(shard, len(files["train"]), f"tfrecord: train pattern '{train}'")
    if shard is not None:
        files["train"] = shard.of(files["train"])
    parse = _parser(specs, labels)
    compression_type = COMPRESSION[compression]
    described = {split: f"'{pattern}'" for split, pattern in patterns.items()}
    if shard is not None:
        described["train"] += f" that worker {shard.index} of {shard.count} reads"
    sizes = {
        split: _count_and_check(names, parse, compression_type, described[split], specs, check == "all")
        for split, names in files.items()
    }
    datasets = {split: _read(names, parse, compression_type) for split, names in files.items()}
    return DataModule.from_splits(
        datasets,
        source=f"tfrecord ({train})",
        sizes=sizes,
        files=files["train"],
        shard=shard,
    )


def _check_spec(specs: dict[str, Feature], labels: list[str]) -> None:
    names = ", ".join(specs) or "none"
    require(
        features=(specs, bool(specs), "at least one feature, as {name: {dtype: ..., shape: [...]}}"),
        label=(labels, bool(labels) and set(labels) <= set(specs), f"one or more of the features ({names})"),
    )
    require(
        features=(names, len(specs) > len(set(labels)), "more than the labels: at least one feature is the input"),
        label=(labels, all(specs[n].dtype != "string" for n in labels), "int64 or float32 features, not string ones"),
    )
    for name, spec in specs.items():
        image = spec.image
        require(
            **{
                f"features.{name}.shape": (
                    spec.shape,
                    all(size >= 0 for size in spec.shape),
                    "a list of sizes of 0 or more",
                ),
                f"features.{name}.image": (
                    image,
                    image is None
                    or (
                        spec.dtype == "string"
                        and not spec.shape
                        and len(image) == 3
                        and min(image) >= 1
                        and image[2] in (1, 3, 4)
                    ),
                    "[height, width, channels] (channels 1, 3 or 4), on a string feature of shape []",
                ),
            }
        )


def _match(pattern: str) -> list[str]:
    """The files matching `pattern`, sorted; `DataError` when none does."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise DataError(f"tfrecord: no file matches '{pattern}'")
    return files


def _parser(specs: dict[str, Feature], labels: list[str]) -> Callable[[tf.Tensor], tuple[Any, Any]]:
    """A function parsing one serialized example into ``(inputs, targets)``."""
    import tensorflow as tf

    parsing = {name: tf.io.FixedLenFeature(spec.shape, getattr(tf, spec.dtype)) for name, spec in specs.items()}
    inputs = [name for name in specs if name not in labels]

    def value(example: dict[str, tf.Tensor], name: str) -> tf.Tensor:
        image = specs[name].image
        if image is None:
            return example[name]
        return tf.ensure_shape(tf.image.resize(decode(example[name], image[2]), image[:2]), image)

    def target(example: dict[str, tf.Tensor], name: str) -> tf.Tensor:
        return tf.cast(example[name], tf.int32) if specs[name].dtype == "int64" else example[name]

    def parse(record: tf.Tensor) -> tuple[Any, Any]:
        example = tf.io.parse_single_example(record, parsing)
        x = {name: value(example, name) for name in inputs}
        y = {name: target(example, name) for name in labels}
        return (x[inputs[0]] if len(inputs) == 1 else x), (y[labels[0]] if len(labels) == 1 else y)

    return parse


def _records(files: tf.data.Dataset, compression_type: str) -> tf.data.Dataset:
    import tensorflow as tf

    return files.interleave(
        lambda file: tf.data.TFRecordDataset(file, compression_type),
        cycle_length=FILES_READ_AT_ONCE,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _read(files: list[str], parse: Callable, compression_type: str) -> tf.data.Dataset:
    """The parsed examples of `files`, interleaved record by record in a fixed order."""
    import tensorflow as tf

    names = tf.data.Dataset.from_tensor_slices(tf.constant(files, tf.string))
    return _records(names, compression_type).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _count_and_check(
    files: list[str], parse: Callable, compression_type: str, described: str, specs: dict[str, Feature], every: bool
) -> int:
    """The number of records in `files`, after parsing every record (`every`) or the first of each file, in parallel.

    Raises:
        DataError: a file cannot be read; a record does not fit `specs` (naming the file, the
            record's index, the feature, and the expected and found dtype and shape); or the
            files hold no record at all (`described`: how the message names them).
    """
    import tensorflow as tf

    def check(file: tf.Tensor) -> tf.Tensor:
        """The file's record count, and how many of its records parsed."""
        records = tf.data.TFRecordDataset(file, compression_type)
        count = tf.constant(0, tf.int64)
        checked = records if every else records.take(1)
        parsed = checked.map(parse).reduce(count, lambda n, _: n + 1)  # a result, so that parsing is not pruned
        return tf.stack([records.reduce(count, lambda n, _: n + 1), parsed])

    results, failures = check_all(files, check)
    if len(results) < len(files):
        explained = [(file, bad_record(file, parse, compression_type, specs) or reason) for file, reason in failures]
        what = "unreadable or unparsable file"
        raise DataError(f"tfrecord: {failure_message(what, explained, len(files) - len(results))}")
    total = int(sum(result[0] for result in results.values()))
    if not total:
        raise DataError(f"tfrecord: the {len(files)} file(s) matching {described} hold no records")
    return total


def bad_record(file: str, parse: Callable, compression_type: str, specs: dict[str, Feature]) -> str | None:
    """Which record of `file` does not parse and why (``record 101: feature 'x' ...``); None when the file itself cannot
    be read (its records are damaged, or it is compressed otherwise)."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(file, compression_type)
    try:
        count = int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    except tf.errors.OpError:
        return None
    parsed = records.enumerate().map(lambda index, record: (index, parse(record))).ignore_errors()
    good = {int(index) for index, _ in parsed.as_numpy_iterator()}
    index = next(i for i in range(count) if i not in good)
    record = next(iter(records.skip(index).take(1))).numpy()
    return f"record {index} (from 0) {mismatch(record, specs)}"


KINDS = {"float32": "float_list", "int64": "int64_list", "string": "bytes_list"}


def mismatch(record: bytes, specs: dict[str, Feature]) -> str:
    """How the serialized ``tf.train.Example`` `record` differs from `specs`: a missing feature, another dtype, or
    another number of values than the shape holds."""
    import tensorflow as tf

    try:
        features = tf.train.Example.FromString(record).features.feature
    except Exception:  # protobuf's DecodeError
        return "is not a tf.train.Example"
    for name, spec in specs.items():
        expected = f"{spec.dtype} of shape {spec.shape}"
        if name not in features:
            return f"has no feature '{name}' (the spec says {expected}; `dataset.args.features.{name}`)"
        kind = features[name].WhichOneof("kind")
        values = getattr(features[name], kind).value if kind else []
        if kind != KINDS[spec.dtype]:
            found = {v: k for k, v in KINDS.items()}.get(kind, "no value")
            return f"has feature '{name}' as {found}, but the spec says {expected} (`dataset.args.features.{name}`)"
        if len(values) != math.prod(spec.shape):
            return (
                f"has {len(values)} value(s) in feature '{name}', but the spec says {expected} "
                f"({math.prod(spec.shape)} value(s); `dataset.args.features.{name}.shape`)"
            )
    return "does not parse with the feature spec"
