"""`csv`: tabular data from CSV files, read by tf.data and encoded by Keras preprocessing layers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from framework.data.csv_check import CsvFile, LabelColumn, read_header, scan
from framework.data.module import DataModule
from framework.recipe.schema import require

if TYPE_CHECKING:
    import tensorflow as tf

ROWS_PER_STEP = 256  # rows encoded per call of the Keras layers (and per step of adapting them)


def csv(
    train: str,
    test: str,
    label: str | list[str],
    validation: str | None = None,
    features: list[str] | None = None,
    categorical: list[str] | None = None,
    delimiter: str = ",",
) -> DataModule:
    """Tabular data: CSV files with a header line, one sample per row.

    Args:
        train, test, validation: CSV files with the same columns (in any order).
        label: the label column, or several (then the targets are a dict keyed by column
            name, for a model with one output per label).
        features: the feature columns (default: every column that is not a label).
        categorical: feature columns holding categories (one-hot encoded); the other
            features must hold numbers (normalized). A label column listed here is read as
            class names.
        delimiter: the character between fields.

    Every file is checked once before training, row by row. Normalization (mean and variance)
    and category vocabularies are learnt from the training file only; a category the
    training file lacks is encoded as "unknown".

    Returns:
        A `DataModule` of ``(features, targets)``: features one float32 vector per row (the
        normalized numeric features in the order given, then each categorical feature's
        one-hot vector, "unknown" first); a target per label column: integer labels as int32
        class ids, other numbers as float32, other text as int32 ids of the sorted class names
        of the training file (`class_names`, with a single label column).

    Raises:
        DataError: a file is missing or empty, lacks a column, has a row with the wrong number
            of fields, a numeric column holds something else than a number, or a validation
            or test label is not of the training file's kind (or not one of its classes).
        ValueError: a column is both label and feature, or `categorical` names a column that
            is neither.
    """
    labels, numeric, text = _columns(train, label, features, categorical, delimiter)
    categorical = list(categorical or [])
    columns = [LabelColumn(name, name in categorical) for name in labels]
    paths = {"train": train, "validation": validation, "test": test}
    files = {
        split: scan(Path(p).expanduser(), delimiter, numeric, columns, text, split == "train")
        for split, p in paths.items()
        if p is not None
    }
    read = _reader(numeric, text, columns, delimiter)
    rows = {split: read(file) for split, file in files.items()}
    encode = _encoder(rows["train"], numeric, text)
    targets = _targets(columns)
    datasets = {split: _encoded(ds, encode, targets) for split, ds in rows.items()}
    return DataModule.from_splits(
        datasets,
        source=f"csv ({train})",
        class_names=columns[0].classes if len(columns) == 1 and columns[0].kind == "string" else None,
        sizes={split: file.rows for split, file in files.items()},
    )


def _columns(
    train: str, label: str | list[str], features: list[str] | None, categorical: list[str] | None, delimiter: str
) -> tuple[list[str], list[str], list[str]]:
    """The label columns, numeric features and categorical features, checked (see `csv`)."""
    labels = [label] if isinstance(label, str) else list(label)
    categorical = list(categorical or [])
    require(
        label=(
            label,
            bool(labels) and len(set(labels)) == len(labels),
            "a column name or a list of different column names",
        ),
        delimiter=(delimiter, len(delimiter) == 1, "one character"),
    )
    features = (
        list(features)
        if features is not None
        else [c for c in read_header(Path(train).expanduser(), delimiter) if c not in labels]
    )
    require(
        features=(
            features,
            bool(features) and not set(features) & set(labels),
            "a non-empty list of columns that are not labels",
        ),
        categorical=(
            categorical,
            set(categorical) <= set(features) | set(labels),
            f"feature or label columns ({', '.join(features + labels)})",
        ),
    )
    return labels, [c for c in features if c not in categorical], [c for c in features if c in categorical]


def feature_reader(
    train: str,
    label: str | list[str],
    features: list[str] | None = None,
    categorical: list[str] | None = None,
    delimiter: str = ",",
) -> Callable[[str], tf.data.Dataset]:
    """For predicting with a run trained on `csv`: reads other CSV files' features as `csv` gives them to the model.

    Takes `csv`'s arguments (a recipe's `dataset.args` without the other splits); the
    normalization and vocabularies are learnt from `train` as `csv` learns them. The returned
    function reads a file (label columns not needed, ignored if there) as a dataset of float32
    feature vectors, one per row in order, and raises `DataError` for a file that is missing,
    lacks a feature column or holds a bad row (naming ``file:line``).
    """
    _, numeric, text = _columns(train, label, features, categorical, delimiter)
    read = _reader(numeric, text, [], delimiter)
    encode = _encoder(read(scan(Path(train).expanduser(), delimiter, numeric, [], text, False)), numeric, text)

    def features_of(path: str) -> tf.data.Dataset:
        return (
            read(scan(Path(path).expanduser(), delimiter, numeric, [], text, False))
            .batch(ROWS_PER_STEP)
            .map(encode)
            .unbatch()
        )

    return features_of


def _reader(
    numeric: list[str], text: list[str], labels: list[LabelColumn], delimiter: str
) -> Callable[[CsvFile], tf.data.Dataset]:
    """A function reading a checked file's needed columns as dicts of scalars, by column name."""
    import tensorflow as tf

    kinds = {"int": tf.int32, "float": tf.float32, "string": tf.string}
    dtypes = {
        **dict.fromkeys(numeric, tf.float32),
        **dict.fromkeys(text, tf.string),
        **{c.name: kinds[c.kind] for c in labels},
    }

    def read(file: CsvFile) -> tf.data.Dataset:
        at = sorted(file.header.index(name) for name in dtypes)
        names = [file.header[i] for i in at]
        rows = tf.data.experimental.CsvDataset(
            str(file.path), [dtypes[n] for n in names], header=True, field_delim=delimiter, select_cols=at
        )
        return rows.map(lambda *values: dict(zip(names, values)))

    return read


def _encoder(
    train: tf.data.Dataset, numeric: list[str], text: list[str]
) -> Callable[[dict[str, tf.Tensor]], tf.Tensor]:
    """Keras layers adapted on the training rows: batches of rows -> float32 feature vectors.

    One `Normalization` for all numeric columns (one pass over the file) and a one-hot
    `StringLookup` per categorical column.
    """
    import keras
    import tensorflow as tf

    batches = train.batch(ROWS_PER_STEP)
    normalization = keras.layers.Normalization(
        axis=-1, dtype="float32"
    )  # float32 under any global mixed-precision policy
    if numeric:
        normalization.adapt(batches.map(lambda rows: tf.stack([rows[c] for c in numeric], axis=-1)))
    lookups = {c: keras.layers.StringLookup(output_mode="one_hot") for c in text}
    for name, lookup in lookups.items():
        lookup.adapt(batches.map(lambda rows, name=name: rows[name]))

    def encode(rows: dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [normalization(tf.stack([rows[c] for c in numeric], axis=-1))] if numeric else []
        parts += [lookups[name](rows[name]) for name in text]
        return tf.concat([tf.cast(part, tf.float32) for part in parts], axis=-1)

    return encode


def _targets(labels: list[LabelColumn]) -> Callable[[dict[str, tf.Tensor]], tf.Tensor | dict[str, tf.Tensor]]:
    """Batches of rows -> the target (one label column) or dict of targets; class names become int32 ids."""
    import keras
    import tensorflow as tf

    lookups = {
        c.name: keras.layers.StringLookup(vocabulary=c.classes, num_oov_indices=0) for c in labels if c.kind == "string"
    }

    def target(rows: dict[str, tf.Tensor], name: str) -> tf.Tensor:
        return tf.cast(lookups[name](rows[name]), tf.int32) if name in lookups else rows[name]

    def targets(rows: dict[str, tf.Tensor]) -> tf.Tensor | dict[str, tf.Tensor]:
        by_name = {c.name: target(rows, c.name) for c in labels}
        return by_name[labels[0].name] if len(labels) == 1 else by_name

    return targets


def _encoded(rows: tf.data.Dataset, encode: Callable, targets: Callable) -> tf.data.Dataset:
    import tensorflow as tf

    batches = rows.batch(ROWS_PER_STEP).map(
        lambda batch: (encode(batch), targets(batch)), num_parallel_calls=tf.data.AUTOTUNE
    )
    return batches.unbatch()
