"""One trial of `tapeline tune`: the run it trains and the plugin that reports its metric to Optuna."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import TapelineError, TrainingFailed
from framework.hooks.specs import hookimpl
from framework.recipe.schema import suggest
from framework.recipe.search_space import Search, apply_values
from framework.recipe.sections import Recipe
from framework.recipe.yaml_reader import Document
from framework.tools.tune_report import format_params

if TYPE_CHECKING:
    import optuna

HOST = socket.gethostname()


@dataclass
class Sweep:
    """What the trials of one tune directory train: the base recipe (as a document, to set trial values in) and its
    search."""

    directory: Path
    document: Document
    search: Search
    storage: str
    study_name: str


class TrialReporter:
    """Reports the search metric of each epoch to an Optuna trial, and stops the run when the trial is pruned."""

    def __init__(self, trial: optuna.Trial, search: Search) -> None:
        self.trial, self.metric, self.direction = trial, search.metric, search.direction
        self.values: list[float] = []
        self.pruned: str | None = None

    @hookimpl(trylast=True)  # after the plugins that add entries to the epoch logs
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> str | None:
        if self.metric not in logs:
            raise TapelineError(
                f"`search.metric` {self.metric!r} is not in the epoch logs; they hold "
                f"{', '.join(logs)}{suggest(self.metric, list(logs))}"
            )
        value = float(logs[self.metric])
        self.values.append(value)
        if math.isfinite(value):
            self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.pruned = f"pruned by Optuna after epoch {epoch + 1} ({self.metric} {value:.4g})"
        return self.pruned

    def result(self) -> float:
        """The best value of the metric over the epochs; `optuna.TrialPruned` or `TrainingFailed` when there is none."""
        import optuna

        if self.pruned:
            raise optuna.TrialPruned(self.pruned)
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            raise TrainingFailed(f"`{self.metric}` was never a finite number ({self.values})")
        return min(finite) if self.direction == "minimize" else max(finite)


def train_trial(recipe: Recipe, directory: Path, reporter: TrialReporter) -> None:
    """Trains `recipe` into `directory` with `reporter` as an extra, last plugin, then frees what Keras kept of the
    run."""
    import keras

    from framework.training.lifecycle import train

    try:
        train(recipe, directory, plugins=[reporter])
    finally:
        keras.backend.clear_session()  # Keras keeps every model built in the process; a sweep builds one per trial


def objective(sweep: Sweep) -> Any:
    """The Optuna objective: one trial trains the recipe with the trial's values in ``trial_<number>``."""

    def run(trial: optuna.Trial) -> float:
        directory = sweep.directory / f"trial_{trial.number}"
        trial.set_user_attr("run", {"host": HOST, "pid": os.getpid(), "directory": str(directory)})
        values = {p.key: p.suggest(trial) for p in sweep.search.parameters}
        print(f"trial {trial.number}: {format_params(values)} -> {directory}", flush=True)
        reporter = TrialReporter(trial, sweep.search)
        try:
            train_trial(apply_values(sweep.document, values), directory, reporter)
            return reporter.result()
        except TrainingFailed as error:  # a run that failed (NaN loss ...) is a result: the sweep goes on
            trial.set_user_attr("error", str(error))
            raise

    return run


def announce(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Prints how a trial ended."""
    outcome = f"{trial.value:.4g}" if trial.value is not None else trial.user_attrs.get("error", "")
    print(
        f"trial {trial.number} {trial.state.name.lower()}: {study.user_attrs['search']['metric']} {outcome}".rstrip(),
        flush=True,
    )
