"""Checks CSV files before training, one streaming pass per file (memory bounded however many rows).

`scan` reads a file with Python's `csv` module and raises `DataError` naming the file and line
of the first problem: a missing column, a row with the wrong number of fields, a value that is
not a number in a numeric column, a label the training file did not have. `LabelColumn` learns
from the training file what a label column holds: integer class ids, numbers, or class names.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from framework.errors import DataError
from framework.recipe.schema import suggest

MAX_CLASSES = 10_000  # different values a label column of class names may hold
INTEGER = re.compile(r"\s*[+-]?\d+\s*")
NUMBER = re.compile(
    r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"
)  # what both Python and tf.data read as a finite float
INT32_MAX = 2**31 - 1


def is_integer(value: str) -> bool:
    """Whether `value` reads as an int32 (``'3'``, ``' -12'``)."""
    return bool(INTEGER.fullmatch(value)) and abs(int(value)) <= INT32_MAX


def is_number(value: str) -> bool:
    """Whether `value` reads as a finite number (``'1.5'``, ``'-2e-3'``; not ``'nan'``, ``'inf'``, ``''``)."""
    return bool(NUMBER.fullmatch(value)) and abs(float(value)) < float("inf")


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
                f"label column '{self.name}' holds {value!r}, but the training file's labels there are integer class "
                "ids"
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
class CsvFile:
    """A checked CSV file: its path, column names and number of data rows."""

    path: Path
    header: list[str]
    rows: int


def read_header(path: Path, delimiter: str) -> list[str]:
    """The column names of `path`; `DataError` for a missing or empty file or repeated names."""
    if not path.is_file():
        raise DataError(f"csv: file '{path}' does not exist")
    with path.open(newline="") as file:
        header = next(csv.reader(file, delimiter=delimiter), None)
    if not header:
        raise DataError(f"csv: '{path}' is empty (expected a header line naming the columns)")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"csv: '{path}' names column(s) {', '.join(repeated)} more than once")
    return header


def scan(
    path: Path, delimiter: str, numeric: list[str], labels: list[LabelColumn], others: list[str], learn: bool
) -> CsvFile:
    """Checks every row of `path`: `DataError` at ``file:line`` for the first bad one.

    `numeric` columns must hold finite numbers; `others` (categorical features) just exist;
    `labels` are learnt (`learn`, the training file) or checked against what was learnt.
    """
    header = read_header(path, delimiter)
    _require_columns(path, header, [*(c.name for c in labels), *numeric, *others])
    numeric_at = [(header.index(name), name) for name in numeric]
    labels_at = [(header.index(c.name), c) for c in labels]
    rows = 0
    with path.open(newline="") as file:
        reader = csv.reader(file, delimiter=delimiter)
        next(reader)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if len(row) != len(header):
                raise DataError(
                    f"csv: {where}: {'an empty line' if not row else f'{len(row)} fields'}, but the header has "
                    f"{len(header)} columns"
                )
            for index, name in numeric_at:
                if not is_number(row[index]):
                    raise DataError(
                        f"csv: {where}: column '{name}' holds {row[index]!r}, not a number; "
                        "if the column holds categories, list it under `categorical`"
                    )
            for index, column in labels_at:
                if learn:
                    column.learn(row[index], f"csv: {where}")
                elif (problem := column.problem(row[index])) is not None:
                    raise DataError(f"csv: {where}: {problem}")
            rows += 1
    if not rows:
        raise DataError(f"csv: '{path}' has a header but no data rows")
    return CsvFile(path, header, rows)


def _require_columns(path: Path, header: list[str], needed: list[str]) -> None:
    for name in needed:
        if name not in header:
            raise DataError(
                f"csv: '{path}' has no column '{name}'; its columns: {', '.join(header)}" + suggest(name, header)
            )
