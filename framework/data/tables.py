"""`csv`: tabular data from CSV files, read row by row (`framework.data.csv_check`) and encoded by Keras layers.

The splits yield each row's raw columns (numbers as float32, categories as strings, missing
cells filled as `Missing` says); the DataModule's `encoder`, a Keras model of `Normalization`
and one-hot `StringLookup` layers adapted on the training file, turns them into one float32
vector per row. The pipelines apply the encoder, and every export holds it, so an exported
model takes the raw columns by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.csv_check import (
    MISSING_CATEGORY,
    NA_VALUES,
    Dialect,
    LabelColumn,
    Missing,
    NumericColumn,
    read_header,
    rows,
    scan,
)
from framework.data.module import DataModule
from framework.recipe.paths import DataPath
from framework.recipe.schema import require

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

ROWS_PER_STEP = 256  # rows read per step of the generator (and per step of adapting the encoder)


def csv(
    train: DataPath.file,
    test: DataPath.file,
    label: str | list[str],
    validation: DataPath.file | None = None,
    features: list[str] | None = None,
    categorical: list[str] | None = None,
    delimiter: str = ",",
    quotechar: str = '"',
    encoding: str = "utf-8-sig",
    missing: Missing = Missing(),
    na_values: list[str] | None = None,
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
        delimiter, quotechar: the characters between fields and around quoted fields.
        encoding: of the files; the default ``utf-8-sig`` reads UTF-8 with or without the
            byte-order mark Excel writes (``cp1252``, ``latin-1`` ... for other files).
        missing: what a missing cell becomes: ``{numeric: error|mean|median|<number>,
            categorical: category|error}`` (`Missing`); a missing label is always an error.
        na_values: the cells that mean "missing" (default: empty, ``NA``, ``N/A``, ``n/a``,
            ``NaN``, ``nan``, ``NULL``, ``null``, ``None``, ``?``, ``-``).

    Every file is checked once before training, row by row. Normalization (mean and variance),
    category vocabularies and the values filling missing numbers are learnt from the training
    file only; a category the training file lacks is encoded as "unknown".

    Returns:
        A `DataModule` of ``(columns, targets)``: the feature columns as a dict by name
        (float32 numbers, string categories; a missing category is ``[MISSING]``), and its
        `encoder` turning them into one float32 vector per row (the normalized numeric features
        in the order given, then each categorical feature's one-hot vector, "unknown" first);
        a target per label column: integer labels as int32 class ids, other numbers as
        float32, other text as int32 ids of the sorted class names of the training file
        (`class_names`, with a single label column).

    Raises:
        DataError: a file is missing, empty or not in `encoding`, lacks a column, has a row
            with the wrong number of fields, a numeric column holds something else than a
            number, a cell is missing where `missing` says ``error``, a label is missing, or a
            validation or test label is not of the training file's kind (or not one of its
            classes); each naming the file, the line and the column.
        ValueError: a column is both label and feature, or `categorical` names a column that
            is neither.
    """
    dialect = Dialect(delimiter, quotechar, encoding, tuple(na_values) if na_values is not None else NA_VALUES)
    labels, numeric, text = _columns(train, label, features, categorical, dialect)
    table = Table(dialect, [NumericColumn(n, missing.numeric) for n in numeric], text, missing)
    columns = [LabelColumn(name, name in (categorical or [])) for name in labels]
    paths = {"train": train, "validation": validation, "test": test}
    files = {split: table.scan(Path(p).expanduser(), columns, split == "train") for split, p in paths.items() if p}
    datasets = {split: table.dataset(file, columns) for split, file in files.items()}
    return DataModule.from_splits(
        datasets,
        source=f"csv ({train})",
        class_names=class_names(columns[0]) if len(columns) == 1 else None,
        sizes={split: table.rows[path] for split, path in files.items()},
        encoder=table.encoder(datasets["train"].map(lambda x, y: x)),
        reading=table.reading(),
        names={split: row_names(file, dialect) for split, file in files.items()},
        columns=lambda name: column_text(files["train"], dialect, name),
    )


def row_names(path: Path, dialect: Dialect) -> list[str]:
    """``file:line`` of each data row of `path` (checked by `scan`), in the order the split yields them."""
    return [f"{path}:{line}" for line, _ in rows(path, dialect) if line > 1]


def column_text(path: Path, dialect: Dialect, name: str) -> list[str] | None:
    """The cells of column `name` of each data row of `path`, stripped; None when the file has no such column."""
    header = read_header(path, dialect)
    if name not in header:
        return None
    at = header.index(name)
    return [fields[at].strip() for line, fields in rows(path, dialect) if line > 1]


@dataclass
class Table:
    """How the feature columns of a set of CSV files are read: the dialect, the numeric columns (with what fills their
    missing cells, learnt by `scan` from the training file) and the categorical ones."""

    dialect: Dialect
    numeric: list[NumericColumn]
    text: list[str]
    missing: Missing
    rows: dict[Path, int] = field(default_factory=dict)  # data rows of each file scanned

    def reading(self) -> dict[str, Any]:
        """How `tapeline predict` reads other files' columns as these were read (JSON data; `from_reading`)."""
        dialect = self.dialect
        return {
            "kind": "csv",
            "numeric": {c.name: c.fill() for c in self.numeric},
            "categorical": self.text,
            "missing": {"numeric": self.missing.numeric, "categorical": self.missing.categorical},
            "delimiter": dialect.delimiter,
            "quotechar": dialect.quotechar,
            "encoding": dialect.encoding,
            "na_values": list(dialect.na_values),
        }

    @classmethod
    def from_reading(cls, reading: dict[str, Any]) -> Table:
        """The table `reading` describes, its missing numbers filled with the values learnt in training."""
        dialect = Dialect(reading["delimiter"], reading["quotechar"], reading["encoding"], tuple(reading["na_values"]))
        numeric = [NumericColumn(name, "error" if fill is None else fill) for name, fill in reading["numeric"].items()]
        return cls(dialect, numeric, list(reading["categorical"]), Missing(**reading["missing"]))

    def scan(self, path: Path, labels: list[LabelColumn], learn: bool) -> Path:
        """Checks `path` (`framework.data.csv_check.scan`); learns fills and labels from the training file."""
        self.rows[path] = scan(path, self.dialect, self.numeric, labels, self.text, self.missing, learn).rows
        return path

    def dataset(self, path: Path, labels: list[LabelColumn] = ()) -> tf.data.Dataset:
        """The rows of `path` (checked by `scan`) as ``(columns, targets)``, or the columns alone without `labels`."""
        import tensorflow as tf

        feature_spec = {c.name: tf.TensorSpec((None,), tf.float32) for c in self.numeric}
        feature_spec |= {name: tf.TensorSpec((None,), tf.string) for name in self.text}
        kinds = {"int": tf.int32, "float": tf.float32, "string": tf.int32}
        label_spec = {c.name: tf.TensorSpec((None,), kinds[c.kind]) for c in labels}
        signature = feature_spec if not labels else (feature_spec, _single(label_spec))
        batches = tf.data.Dataset.from_generator(lambda: self.batches(path, labels), output_signature=signature)
        return batches.unbatch().apply(tf.data.experimental.assert_cardinality(self.rows[path]))

    def batches(self, path: Path, labels: list[LabelColumn]) -> Iterator[Any]:
        """Up to `ROWS_PER_STEP` rows at a time: column name -> NumPy array, missing cells filled."""
        header = read_header(path, self.dialect)
        fills = {c.name: c.fill() for c in self.numeric}
        na = set(self.dialect.na_values)
        at = {name: header.index(name) for name in [*fills, *self.text, *(c.name for c in labels)]}
        classes = {c.name: ids(c) for c in labels if ids(c) is not None}
        block: list[list[str]] = []
        for line, fields in rows(path, self.dialect):
            if line > 1:
                block.append([fields[i].strip() for i in at.values()])
            if len(block) == ROWS_PER_STEP:
                yield self.columns(block, list(at), fills, na, labels, classes)
                block = []
        if block:
            yield self.columns(block, list(at), fills, na, labels, classes)

    def columns(
        self,
        block: list[list[str]],
        names: list[str],
        fills: dict[str, float | None],
        na: set[str],
        labels: list[LabelColumn],
        classes: dict[str, dict[str, int]],
    ) -> Any:
        """A block of rows as arrays: numbers (missing ones filled), categories (missing ones `MISSING_CATEGORY`) and
        labels."""
        cells = dict(zip(names, zip(*block)))
        features = {
            name: np.array([fills[name] if v in na else float(v) for v in cells[name]], np.float32) for name in fills
        }
        features |= {
            name: np.array([MISSING_CATEGORY if v in na else v for v in cells[name]], object) for name in self.text
        }
        if not labels:
            return features
        targets = {c.name: _labels(c, cells[c.name], classes.get(c.name)) for c in labels}
        return features, _single(targets)

    def encoder(self, train: tf.data.Dataset) -> keras.Model:
        """A Keras model from the feature columns (a dict by name) to one float32 vector, adapted on `train`."""
        import keras
        import tensorflow as tf

        numeric = [c.name for c in self.numeric]
        inputs = {name: keras.Input((), dtype="float32", name=name) for name in numeric}
        inputs |= {name: keras.Input((), dtype="string", name=name) for name in self.text}
        batches = train.batch(ROWS_PER_STEP)
        parts = []
        if numeric:
            normalization = keras.layers.Normalization(axis=-1, dtype="float32", name="numeric")
            normalization.adapt(batches.map(lambda rows: tf.stack([rows[c] for c in numeric], axis=-1)))
            parts.append(normalization(keras.ops.stack([inputs[c] for c in numeric], axis=-1)))
        for name in self.text:
            lookup = keras.layers.StringLookup(output_mode="one_hot", dtype="float32", name=f"categories_{len(parts)}")
            lookup.adapt(batches.map(lambda rows, name=name: rows[name]))
            parts.append(keras.ops.cast(lookup(inputs[name]), "float32"))
        vector = (
            parts[0] if len(parts) == 1 else keras.layers.Concatenate(axis=-1, dtype="float32", name="features")(parts)
        )
        return keras.Model(inputs, vector, name="csv_encoder")


def class_names(column: LabelColumn) -> list[str] | None:
    """The class names of a label column: its sorted class names, its labels when they are not 0..K-1, or None."""
    if column.kind == "string":
        return column.classes
    return None if column.numbered is None else [str(v) for v in column.numbered]


def ids(column: LabelColumn) -> dict[str, int] | None:
    """Each label cell's class id, when the cells are not the ids themselves (class names, labels 1..K)."""
    if column.kind == "string":
        return {name: i for i, name in enumerate(column.classes)}
    if column.numbered is None:
        return None
    return {str(label): i for i, label in enumerate(column.numbered)}


def _single(by_name: dict[str, Any]) -> Any:
    """The one value of `by_name`, or the dict for several."""
    return next(iter(by_name.values())) if len(by_name) == 1 else by_name


def _labels(column: LabelColumn, values: tuple[str, ...], classes: dict[str, int] | None) -> np.ndarray:
    """A label column's cells as class ids (int32) or targets (float32)."""
    if classes is not None:
        return np.array([classes[str(int(v)) if column.kind == "int" else v] for v in values], np.int32)
    return np.array([int(v) for v in values], np.int32) if column.kind == "int" else np.array(values, np.float32)


def _columns(
    train: str, label: str | list[str], features: list[str] | None, categorical: list[str] | None, dialect: Dialect
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
        delimiter=(dialect.delimiter, len(dialect.delimiter) == 1, "one character"),
        quotechar=(dialect.quotechar, len(dialect.quotechar) == 1, "one character"),
    )
    _check_encoding(dialect.encoding)
    header = read_header(Path(train).expanduser(), dialect)
    features = list(features) if features is not None else [c for c in header if c not in labels]
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


def _check_encoding(encoding: str) -> None:
    """`ValueError` for an encoding Python does not know."""
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(
            f"`encoding` must be a text encoding Python knows, such as utf-8-sig, cp1252 or latin-1 (got {encoding!r})"
        ) from None


def read_features(reading: dict[str, Any], path: str) -> tf.data.Dataset:
    """For `tapeline predict`: the feature columns of another CSV file, read as the run's `csv` dataset read its files
    (`reading`, saved with the run). Label columns are not needed (ignored if there).

    Raises:
        DataError: the file is missing or not in the encoding, lacks a feature column or holds a bad row (naming
            ``file:line`` and the column).
    """
    table = Table.from_reading(reading)
    return table.dataset(table.scan(Path(path).expanduser(), [], False))
