"""Metrics log: the running metrics every N batches as CSV and JSON Lines (the rows per epoch are the core's history
files)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from framework import hookimpl, write_csv, write_text

if TYPE_CHECKING:
    from framework import RunContext

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
    """Writes ``batch_metrics.csv`` and ``batch_metrics.jsonl`` in the run directory: the running metrics every
    `every_n_batches` batches.

    The rows per epoch are the core's: every run writes ``history.csv`` and ``history.json``
    with every entry plugins and Keras callbacks add. The plugin declares `batch_interval`, so with
    ``steps_per_execution: auto`` the run takes as many steps per compiled call as divide
    `every_n_batches` (16 for the default 48) and logs without a host sync per step; with other
    calls (an explicit ``steps_per_execution``, a resumed epoch) a row is written at the first call
    boundary at or past each multiple of `every_n_batches`. On ``--resume`` the rows after the
    saved state (epoch and step) are dropped and new rows are appended.
    """

    name = "metrics_log"
    resume_may_change = ("every_n_batches",)

    def __init__(self, every_n_batches: int = 48) -> None:
        """`every_n_batches`: batches between rows (48: near Lightning's ``log_every_n_steps`` of 50, and a multiple
        of 16 steps per call); 0 is refused with a pointer to the history."""
        if every_n_batches < 1:
            raise ValueError(
                f"`every_n_batches` must be a positive number of batches (got {every_n_batches}): metrics_log writes "
                "only "
                "per-batch rows; the rows per epoch are in history.csv and history.json, which every run writes"
            )
        self.every_n_batches = self.batch_interval = every_n_batches
        self.batches: Table | None = None
        self.marks = 0  # multiples of every_n_batches passed in the running epoch

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        done, steps = len(run.history), run.initial_step  # epochs and steps of an earlier session that are kept
        self.batches = Table(run.directory, BATCHES)
        self.batches.open(lambda row: row["epoch"] <= done or (row["epoch"] == done + 1 and row["batch"] <= steps))
        self.marks = steps // self.every_n_batches  # the session's first epoch may be one resumed at `steps`

    @hookimpl
    def on_batch_end(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        marks = (batch + 1) // self.every_n_batches
        if marks > self.marks:
            self.marks = marks
            self.batches.add({"epoch": epoch + 1, "batch": batch + 1, **logs})

    @hookimpl
    def on_epoch_end(self) -> None:
        self.marks = 0
