"""``tapeline runs``: the runs under a directory, read from their files, as a table or as JSON.

Only run files are read (``recipe.yaml``, ``history.json``, ``run.json``, ``evaluation.json``),
so no TensorFlow starts. A run whose files cannot be read is listed as ``unreadable: <reason>``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from framework.errors import TapelineError
from framework.hooks.monitor import Monitor
from framework.tools.table_output import print_table
from framework.tools.tune import TUNE_FILE
from framework.training.run_directory import (
    HISTORY_JSON,
    RECIPE_FILE,
    SUMMARY_FILE,
)

EVALUATION_FILE = "evaluation.json"  # written by the evaluation plugin
NOT_METRICS = ("threshold",)  # numbers in evaluation.json that are settings (a binary output's decision threshold)
DEFAULT_METRIC = "val_loss"
FALLBACK_METRIC = "loss"  # when no run has a validation split


class UnreadableRunFile(TapelineError):
    """A run file that is missing where it must be, not valid JSON or YAML, or not shaped as Tapeline writes it."""


@dataclass
class RunRecord:
    """What `tapeline runs` shows of one run directory; `unreadable` says why the rest is missing."""

    path: Path
    label: str  # the path relative to the listed directory: ``<name>/version_<N>``
    name: str | None = None
    status: str = ""
    planned: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)  # final test metrics, ``test_``-prefixed
    seconds: float | None = None  # of the last training session

    def values(self, metric: str) -> list[float]:
        """`metric` per epoch (epochs without it skipped)."""
        return [float(row[metric]) for row in self.history if isinstance(row.get(metric), (int, float))]

    def best(self, metric: str) -> float | None:
        """The best value of `metric` in the history (lowest, or highest for accuracy-like names)."""
        values = [v for v in self.values(metric) if not math.isnan(v)]
        if not values:
            return None
        return max(values) if Monitor(metric).mode == "max" else min(values)

    def final(self, metric: str) -> float | None:
        """`metric`'s value in the last epoch that has it."""
        values = self.values(metric)
        return values[-1] if values else None

    def metrics(self) -> set[str]:
        """Every metric name of the history and the final test metrics."""
        return {key for row in self.history for key in row if key != "epoch"} | set(self.test)


def read_json(path: Path) -> Any:
    """The JSON in `path`; `UnreadableRunFile` naming the file and what is wrong with it."""
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise UnreadableRunFile(f"cannot read {path.name}: {error.strerror or error}") from None
    except ValueError as error:
        raise UnreadableRunFile(f"{path.name} is not valid JSON ({error})") from None


def read_history(directory: Path) -> list[dict[str, float]]:
    """The rows of ``history.json`` (one per epoch); empty when no epoch has ended yet."""
    path = directory / HISTORY_JSON
    if not path.exists():
        return []
    rows = read_json(path)
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get("epoch"), int) for row in rows
    ):
        raise UnreadableRunFile(f"{path.name} is not a list of epoch rows with an 'epoch' number each")
    return rows


def final_test_metrics(directory: Path) -> dict[str, float]:
    """The final test metrics in ``evaluation.json`` as ``{"test_loss": ..., "test_accuracy": ...}``; empty without the
    file.

    These are its top-level numbers: the compiled metrics and the task report's overall scores
    (``macro_f1``, ``roc_auc``, ``r2`` ...), not per-class or per-output details.
    """
    path = directory / EVALUATION_FILE
    if not path.exists():
        return {}
    report = read_json(path)
    if not isinstance(report, dict):
        raise UnreadableRunFile(f"{path.name} is not a mapping (got {type(report).__name__})")
    numbers = {
        key: value for key, value in report.items() if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    return {f"test_{key}": float(value) for key, value in numbers.items() if key not in NOT_METRICS}


def read_recipe(directory: Path) -> dict[str, Any]:
    """The run's saved ``recipe.yaml`` as plain data (not checked: names it uses need not be installed)."""
    path = directory / RECIPE_FILE
    try:
        recipe = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UnreadableRunFile(f"cannot read {path.name}: {error.strerror or error}") from None
    except (yaml.YAMLError, ValueError) as error:  # ValueError: not UTF-8
        raise UnreadableRunFile(f"{path.name} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(recipe, dict):
        raise UnreadableRunFile(f"{path.name} is not a mapping (got {type(recipe).__name__})")
    return recipe


def run_status(summary: dict[str, Any] | None, planned: int | None) -> str:
    """What ``run.json`` says of the last session: ``completed``, ``stopped early: <reason>``, ``interrupted``,
    ``preempted``, ``failed: <error>``; without it, ``running or killed``.

    ``run.json`` is written whenever a session ends, also by an error, Ctrl-C or SIGTERM; without
    it the process is still training, or was killed (SIGKILL, a crash of the machine).
    """
    if summary is None:
        return "running or killed"
    status, reason = summary.get("status"), summary.get("stop_reason")
    if status == "failed":
        return f"failed: {summary.get('error') or 'unknown error'}"
    if status in ("interrupted", "preempted"):
        return status
    older = status == "completed" and reason and planned is not None and summary.get("epochs", 0) < planned
    if status == "stopped_early" or older:  # runs before Tapeline wrote "stopped_early" wrote "completed"
        return f"stopped early: {reason}"
    return f"completed ({reason})" if reason else "completed"


def read_run(directory: Path, root: Path) -> RunRecord:
    """What the files of the run in `directory` say; an unreadable file makes the status ``unreadable: <reason>``."""
    label = str(directory.relative_to(root)) if directory != root else directory.name
    record = RunRecord(directory, label)
    try:
        recipe = read_recipe(directory)
        summary = read_json(directory / SUMMARY_FILE) if (directory / SUMMARY_FILE).exists() else None
        if summary is not None and not isinstance(summary, dict):
            raise UnreadableRunFile(f"{SUMMARY_FILE} is not a mapping (got {type(summary).__name__})")
        record.history, record.test = read_history(directory), final_test_metrics(directory)
    except UnreadableRunFile as error:
        record.status = f"unreadable: {error}"
        return record
    training = recipe.get("training")
    epochs = training.get("epochs") if isinstance(training, dict) else None
    name = recipe.get("name")
    record.name, record.planned = name if isinstance(name, str) else None, epochs if isinstance(epochs, int) else None
    record.status = run_status(summary, record.planned)
    seconds = (summary or {}).get("seconds")
    record.seconds = float(seconds) if isinstance(seconds, (int, float)) else None
    return record


def find_runs(root: Path) -> list[RunRecord]:
    """Every run directory (one holding ``recipe.yaml``, not a tune directory's own) at or under `root`, by path.

    `TapelineError` when `root` is not a directory or holds no run.
    """
    if not root.is_dir():
        raise TapelineError(
            f"runs directory '{root}' does not exist"
            if not root.exists()
            else f"'{root}' is a file, not a directory of runs"
        )
    directories = sorted({path.parent for path in root.rglob(RECIPE_FILE) if not (path.parent / TUNE_FILE).is_file()})
    if not directories:
        raise TapelineError(
            f"no runs under '{root}' (a run directory holds {RECIPE_FILE}); train one with `tapeline train RECIPE`"
        )
    return [read_run(directory, root) for directory in directories]


def check_metric(records: list[RunRecord], metric: str, option: str) -> None:
    """`TapelineError` listing the metrics there are unless some run has `metric`."""
    known = set().union(*(record.metrics() for record in records))
    if metric not in known:
        raise TapelineError(
            f"{option} {metric!r}: no run has this metric; metrics: {', '.join(sorted(known)) or 'none'}"
        )


def sort_runs(records: list[RunRecord], metric: str) -> list[RunRecord]:
    """`records` best first by `metric` (its final test value for ``test_*`` from evaluation, else its best epoch); runs
    without it last."""

    sign = -1 if Monitor(metric).mode == "max" else 1

    def key(record: RunRecord) -> tuple[bool, float]:
        value = number(record.test.get(metric, record.best(metric)))
        return value is None, 0.0 if value is None else sign * value

    return sorted(records, key=key)


def number(value: float | None) -> float | None:
    """`value` for JSON: None when missing or not finite."""
    return value if value is not None and math.isfinite(value) else None


def run_json(record: RunRecord, metric: str) -> dict[str, Any]:
    """One run as plain data for ``--json``."""
    return {
        "path": str(record.path),
        "name": record.name,
        "version": record.path.name,
        "status": record.status,
        "epochs": len(record.history),
        "planned_epochs": record.planned,
        "metric": metric,
        "best": number(record.best(metric)),
        "final": number(record.final(metric)),
        "test": {key: number(value) for key, value in record.test.items()},
        "seconds": record.seconds,
    }


def duration(seconds: float | None) -> str:
    """``42.1 s``, ``3m 05s`` or ``2h 07m``."""
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"{seconds:.1f} s"
        if seconds < 60
        else f"{minutes}m {rest:02d}s"
        if minutes < 60
        else f"{minutes // 60}h {minutes % 60:02d}m"
    )


STATUS_STYLES = {
    "completed": "green",
    "stopped": "yellow",
    "interrupted": "yellow",
    "preempted": "yellow",
    "failed:": "red",
    "unreadable:": "red",
    "running": "yellow",
}


def runs_table(records: list[RunRecord], metric: str) -> Any:
    """A rich `Table`: a row per run with status, epochs, best and final `metric`, test metrics and time."""
    from rich.table import Table

    tests = sorted(set().union(*(record.test for record in records)))
    table = Table(box=None, pad_edge=False)
    for title in ["run", "status", "epochs", f"best {metric}", f"final {metric}", *tests, "time"]:
        table.add_column(title, justify="left" if title in ("run", "status") else "right", overflow="fold")
    for record in records:
        if record.status.startswith("unreadable"):
            table.add_row(record.label, f"[red]{record.status}[/red]")
            continue
        style = STATUS_STYLES.get(record.status.split()[0], "")
        values = [record.best(metric), record.final(metric), *(record.test.get(name) for name in tests)]
        epochs = f"{len(record.history)}/{record.planned if record.planned is not None else '?'}"
        table.add_row(
            record.label,
            f"[{style}]{record.status}[/{style}]" if style else record.status,
            epochs,
            *("" if v is None else f"{v:.4f}" for v in values),
            duration(record.seconds),
        )
    return table


def show_runs(root: Path, metric: str | None = None, sort: str | None = None, as_json: bool = False) -> None:
    """Prints the runs under `root` as a table (or a JSON list), sorted by `sort` if given.

    `metric` (default ``val_loss``, or ``loss`` when no run has it) fills the best and final
    columns. `TapelineError` for a missing or empty `root`, and for a `metric` or `sort`
    metric that no run has (the message lists those there are).
    """

    records = find_runs(root)
    readable = [record for record in records if not record.status.startswith("unreadable")]
    if metric is None:
        metric = DEFAULT_METRIC if any(DEFAULT_METRIC in record.metrics() for record in readable) else FALLBACK_METRIC
    else:
        check_metric(readable, metric, "--metric")
    if sort is not None:
        check_metric(readable, sort, "--sort")
        records = sort_runs(records, sort)
    if as_json:
        print(json.dumps([run_json(record, metric) for record in records], indent=1))
        return
    print_table(runs_table(records, metric))
