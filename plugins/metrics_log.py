"""Metrics log: every epoch's (and optionally every N-th batch's) metrics as CSV and JSON Lines."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from framework import enable_batch_hook, hookimpl
from framework.files import write_csv, write_text
from framework.schema import require

if TYPE_CHECKING:
    from framework import Run


EPOCHS = "metrics"
BATCHES = "batch_metrics"


def read_rows(path: Path) -> list[dict[str, float]]:
    """The rows of a JSON Lines file, stopping at a line cut short by a crash."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break
    return rows


class Table:
    """Rows written to ``<stem>.jsonl`` (appended, flushed) and ``<stem>.csv`` (rewritten when columns change)."""

    def __init__(self, directory: Path, stem: str) -> None:
        self.jsonl, self.csv = directory / f"{stem}.jsonl", directory / f"{stem}.csv"
        self.rows: list[dict[str, float]] = []
        self.columns: list[str] = []

    def open(self, keep: Callable[[dict[str, float]], bool]) -> None:
        """Starts the files (atomically), keeping the rows of an earlier session for which `keep(row)` is true."""
        if self.jsonl.is_file():
            self.rows = [row for row in read_rows(self.jsonl) if keep(row)]
        self.columns = list(dict.fromkeys(key for row in self.rows for key in row))
        write_text(self.jsonl, "".join(json.dumps(row) + "\n" for row in self.rows))
        self.rewrite_csv()

    def rewrite_csv(self) -> None:
        write_csv(self.csv, self.rows, self.columns)

    def add(self, row: dict[str, float]) -> None:
        """Appends `row` to both files."""
        self.rows.append(row)
        with open(self.jsonl, "a") as stream:
            stream.write(json.dumps(row) + "\n")
        if any(key not in self.columns for key in row):
            self.columns += [key for key in row if key not in self.columns]
            self.rewrite_csv()
        else:
            with open(self.csv, "a", newline="") as stream:
                csv.DictWriter(stream, self.columns).writerow(row)


class MetricsLog:
    """Writes ``metrics.csv`` and ``metrics.jsonl`` in the run directory, a row per epoch.

    With `every_n_batches`, also ``batch_metrics.csv``/``.jsonl`` with the running metrics every
    N batches (this costs a host sync per step). On ``--resume`` the rows of the epochs being
    redone are dropped and new rows are appended.
    """

    name = "metrics_log"
    order = 80  # after plugins that add entries to the epoch logs
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, every_n_batches: int = 0) -> None:
        require(every_n_batches=(every_n_batches, every_n_batches >= 0, "0 (off) or positive"))
        self.every_n_batches = every_n_batches
        self.epochs: Table | None = None
        self.batches: Table | None = None
        if every_n_batches:
            enable_batch_hook(self, self.log_batch)

    @hookimpl
    def on_train_begin(self, run: Run) -> None:
        done = run.initial_epoch
        self.epochs, self.batches = Table(run.directory, EPOCHS), Table(run.directory, BATCHES)
        self.epochs.open(lambda row: row["epoch"] <= done)
        if self.every_n_batches:
            self.batches.open(lambda row: row["epoch"] <= done)

    def log_batch(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        if (batch + 1) % self.every_n_batches == 0:
            self.batches.add({"epoch": epoch + 1, "batch": batch + 1, **logs})

    @hookimpl
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.add({"epoch": epoch + 1, **logs})
