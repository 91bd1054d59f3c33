"""Reading and checking CSV files as spreadsheets, Excel and pandas write them, one streaming pass per file.

Files are read with Python's `csv` module in the `Dialect` the recipe gives (encoding, delimiter,
quote character); the default encoding ``utf-8-sig`` reads UTF-8 with or without Excel's
byte-order mark. A cell holding one of `Dialect.na_values` (empty, ``NA``, ``NaN``, ``?`` ...)
is missing, and `Missing` says what to do with it per column kind. `scan` raises `DataError`
naming the file, the line and the column of the first problem: a missing column, a row with the
wrong number of fields, a value that is not a number, a missing cell the policy refuses or a
missing label, a label the training file did not have, text that is not in the encoding.
`LabelColumn` learns from the training file what a label column holds; `NumericColumn` the
values that fill its missing cells.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from framework.errors import DataError
from framework.recipe.schema import suggest

MAX_CLASSES = 10_000  # different values a label column of class names may hold
INTEGER = re.compile(r"\s*[+-]?\d+\s*")
# what both Python and NumPy read as a finite float
NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
INT32_MAX = 2**31 - 1
NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "?", "-")
# what a missing categorical cell becomes: a category of its own (as Keras writes "[UNK]")
MISSING_CATEGORY = "[MISSING]"


def is_integer(value: str) -> bool:
    """Whether `value` reads as an int32 (``'3'``, ``' -12'``)."""
    return bool(INTEGER.fullmatch(value)) and abs(int(value)) <= INT32_MAX


def is_number(value: str) -> bool:
    """Whether `value` reads as a finite number (``'1.5'``, ``'-2e-3'``; not ``'nan'``, ``'inf'``, ``''``)."""
    return bool(NUMBER.fullmatch(value)) and abs(float(value)) < float("inf")


@dataclass(frozen=True)
class Missing:
    """What a missing cell (one of `Dialect.na_values`) becomes, by column kind.

    Attributes:
        numeric: ``error`` (exit 2 naming file, line and column), ``mean`` or ``median`` (of the
            column's values in the training file), or a number.
        categorical: ``category`` (a category of its own, ``[MISSING]``, which the encoder
            learns like any other) or ``error``.
    """

    numeric: Literal["error", "mean", "median"] | float = "error"
    categorical: Literal["category", "error"] = "category"


@dataclass(frozen=True)
class Dialect:
    """How the CSV files are written: `encoding` (``utf-8-sig``: UTF-8, with or without Excel's byte-order mark;
    ``cp1252``, ``latin-1`` ...), the `delimiter` and `quotechar` characters, and the cells that mean "missing"."""

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8-sig"
    na_values: tuple[str, ...] = NA_VALUES


@dataclass
class LabelColumn:
    """A label column: what it holds, learnt from the training file (`learn`), then checked in others (`problem`).

    A column of integers holds class ids; one of other numbers, regression targets; anything
    else (or a column listed under `categorical`), class names, whose sorted set is `classes`.
    """

    name: str
    categorical: bool
    integers: bool = True
    numbers: bool = True
    values: set[str] = field(default_factory=set)

    @property
    def kind(self) -> Literal["int", "float", "string"]:
        """``int`` (class ids), ``float`` (targets) or ``string`` (class names)."""
        if self.categorical or not self.numbers:
            return "string"
        return "int" if self.integers else "float"

    @property
    def classes(self) -> list[str]:
        """The class names, sorted (index = class id); for a ``string`` column only."""
        return sorted(self.values)

    @functools.cached_property
    def numbered(self) -> list[int] | None:
        """For an ``int`` column whose labels are not 0..K-1 (``1, 2, 3``): the labels, sorted, whose positions become
        the class ids; else None (the labels are the ids). Read once the training file is learnt."""
        if self.kind != "int" or len(self.values) > MAX_CLASSES:
            return None
        labels = sorted({int(v) for v in self.values})
        return None if labels == list(range(len(labels))) else labels

    def learn(self, value: str, where: str) -> None:
        """Notes a training-file value; `DataError` past `MAX_CLASSES` class names."""
        self.integers = self.integers and is_integer(value)
        self.numbers = self.numbers and is_number(value)
        if len(self.values) <= MAX_CLASSES:
            self.values.add(value)
        elif self.kind == "string":
            raise DataError(
                f"{where}: label column '{self.name}' holds more than {MAX_CLASSES:,} different class names"
            )

    def problem(self, value: str) -> str | None:
        """Why `value` (from a validation or test file) is not a label of the kind learnt, or None."""
        if self.kind == "int" and not is_integer(value):
            return (
                f"label column '{self.name}' holds {value!r}, but the training file's labels there are integer "
                "class ids"
            )
        if self.numbered is not None and int(value) not in self.numbered:
            labels = ", ".join(map(str, self.numbered[:20])) + (" ..." if len(self.numbered) > 20 else "")
            return (
                f"label column '{self.name}' holds {value!r}, which is not one of the training file's labels ({labels})"
            )
        if self.kind == "float" and not is_number(value):
            return f"label column '{self.name}' holds {value!r}, not a number"
        if self.kind == "string" and value not in self.values:
            names = ", ".join(self.classes[:20]) + (" ..." if len(self.values) > 20 else "")
            return (
                f"label column '{self.name}' holds {value!r}, which is not one of the training file's classes ({names})"
            )
        return None


@dataclass
class NumericColumn:
    """A numeric feature column: its training values' sum and count (and values, for a median), to fill missing
    cells."""

    name: str
    policy: Literal["error", "mean", "median"] | float
    total: float = 0.0
    count: int = 0
    values: list[float] = field(default_factory=list)

    def learn(self, value: float) -> None:
        """Notes a training-file value."""
        self.total += value
        self.count += 1
        if self.policy == "median":
            self.values.append(value)

    def fill(self) -> float | None:
        """What a missing cell becomes (None: missing cells are errors)."""
        if self.policy == "error":
            return None
        if not isinstance(self.policy, str):
            return float(self.policy)
        if not self.count:
            return 0.0
        if self.policy == "mean":
            return self.total / self.count
        ordered = sorted(self.values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class CsvFile:
    """A checked CSV file: its path, column names and number of data rows."""

    path: Path
    header: list[str]
    rows: int


def rows(path: Path, dialect: Dialect) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each row of `path` after the header (lines from 1, as editors count them).

    Raises:
        DataError: the file does not exist, or holds text that is not in `dialect.encoding`.
    """
    if not path.is_file():
        raise DataError(f"csv: file '{path}' does not exist")
    with path.open(newline="", encoding=dialect.encoding) as file:
        reader = csv.reader(file, delimiter=dialect.delimiter, quotechar=dialect.quotechar)
        try:
            for fields in reader:
                yield reader.line_num, fields
        except UnicodeDecodeError:
            line, detail = undecodable_line(path, dialect.encoding)
            raise DataError(
                f"csv: {path}:{line}: the file is not {dialect.encoding} text ({detail}); set `dataset.args.encoding` "
                "(cp1252 and latin-1 read Windows and older files)"
            ) from None
        except csv.Error as error:
            raise DataError(f"csv: {path}:{reader.line_num}: {error}") from None


def undecodable_line(path: Path, encoding: str) -> tuple[int, str]:
    """The first line of `path` (from 1) that is not `encoding` text, and what is wrong there."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as error:
                return (
                    number,
                    f"{error.reason}: byte {raw[error.start : error.start + 1]!r} at column {error.start + 1}",
                )
    return 0, "unknown"


def read_header(path: Path, dialect: Dialect) -> list[str]:
    """The column names of `path`; `DataError` for a missing or empty file or repeated names."""
    header = next((fields for _, fields in rows(path, dialect)), None)
    if not header:
        raise DataError(f"csv: '{path}' is empty (expected a header line naming the columns)")
    header = [name.strip() for name in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"csv: '{path}' names column(s) {', '.join(repeated)} more than once")
    return header


def scan(
    path: Path,
    dialect: Dialect,
    numeric: list[NumericColumn],
    labels: list[LabelColumn],
    categorical: list[str],
    missing: Missing,
    learn: bool,
) -> CsvFile:
    """Checks every row of `path`: `DataError` at ``file:line`` for the first bad one.

    `numeric` columns must hold finite numbers or missing cells `missing` allows (learnt from
    the training file: `learn`); `categorical` columns missing cells `missing` allows; `labels`
    must be there, and are learnt (`learn`, the training file) or checked against what was.
    """
    header = read_header(path, dialect)
    _require_columns(path, header, [*(c.name for c in labels), *(c.name for c in numeric), *categorical])
    numeric_at = [(header.index(c.name), c) for c in numeric]
    labels_at = [(header.index(c.name), c) for c in labels]
    categorical_at = [(header.index(name), name) for name in categorical]
    na = set(dialect.na_values)
    count = 0
    for line, fields in rows(path, dialect):
        if line == 1:
            continue
        where = f"{path}:{line}"
        if len(fields) != len(header):
            described = "an empty line" if not fields else f"{len(fields)} fields"
            raise DataError(f"csv: {where}: {described}, but the header has {len(header)} columns")
        for index, column in numeric_at:
            value = fields[index].strip()
            if value in na:
                if column.policy == "error":
                    raise DataError(
                        f"csv: {where}: column '{column.name}' is missing a value ({fields[index]!r}); set "
                        "`dataset.args.missing.numeric` to mean, median or a number to fill missing numbers"
                    )
            elif not is_number(value):
                raise DataError(
                    f"csv: {where}: column '{column.name}' holds {fields[index]!r}, not a number; if the column "
                    "holds categories, list it under `categorical`"
                )
            elif learn:
                column.learn(float(value))
        for index, name in categorical_at:
            if fields[index].strip() in na and missing.categorical == "error":
                raise DataError(
                    f"csv: {where}: column '{name}' is missing a value ({fields[index]!r}); set "
                    "`dataset.args.missing.categorical: category` to make missing cells a category of their own"
                )
        for index, column in labels_at:
            value = fields[index].strip()
            if value in na:
                raise DataError(
                    f"csv: {where}: label column '{column.name}' is missing its value ({fields[index]!r}); "
                    "every row needs a label (remove the row or fill it in)"
                )
            if learn:
                column.learn(value, f"csv: {where}")
            elif (problem := column.problem(value)) is not None:
                raise DataError(f"csv: {where}: {problem}")
        count += 1
    if not count:
        raise DataError(f"csv: '{path}' has a header but no data rows")
    return CsvFile(path, header, count)


def _require_columns(path: Path, header: list[str], needed: list[str]) -> None:
    for name in needed:
        if name not in header:
            raise DataError(
                f"csv: '{path}' has no column '{name}'; its columns: {', '.join(header)}" + suggest(name, header)
            )
