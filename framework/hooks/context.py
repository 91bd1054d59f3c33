"""`RunContext`: the read-only view of a run that plugin hooks receive as their ``run`` argument.

The core's run (`framework.training.run.Run`) creates one context; a hook reads through it
(recipe, directory, data, worker role, history so far, current epoch, global step, stop reason,
reports) and acts only through its actions: `RunContext.request_stop`, `RunContext.evaluate`,
`RunContext.predict` and `RunContext.publish`. Adding entries to ``logs`` in ``on_epoch_end``
stays the documented way to add metrics (the Keras convention).

This module imports nothing from the training loop: the plugin contract does not depend on it
(tests/test_import_graph.py). `RunState` says what it needs of a run.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from framework.data.pipelines import Pipelines
    from framework.hooks.progress import Progress
    from framework.recipe.sections import Recipe

READ_ONLY = "RunContext is read-only"
SET_HINTS = {
    "stop_reason": "return a reason from on_epoch_end/on_batch_end or call run.request_stop(reason)",
    "history": "add entries to `logs` in on_epoch_end; the core records them in the history",
}


MISSING_HINTS = {
    "initial_epoch": "in on_train_begin, len(run.history) is the number of epochs done before this session",
    "plugins": "plugins share results with run.publish(name, report) and read them from run.reports",
    "hook": "plugins share results with run.publish(name, report) and read them from run.reports",
}


@dataclass
class Predictions:
    """One pass over a split: the network's outputs, the labels and the compiled loss and metrics of that pass.

    Attributes:
        predictions: the network's outputs as NumPy arrays ``(samples, units)`` (a dict by output
            name, or a list, for several outputs), in the split's order.
        labels: the labels in the same structure and order (class ids for classification).
        metrics: what ``evaluate`` returns for the split (``{"loss": ..., "accuracy": ...}``).
    """

    predictions: Any
    labels: Any
    metrics: dict[str, float]


class RunState(Protocol):
    """What a `RunContext` reads and acts on: the core's run (`framework.training.run.Run` implements it)."""

    recipe: Recipe
    data: Pipelines
    trainer: keras.Model
    strategy: tf.distribute.Strategy
    worker_index: int
    is_chief: bool
    directory: Path | None
    progress: Progress
    reports: dict[str, dict[str, Any]]

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on `split`."""
        ...

    def predict(self, split: str = "test") -> Predictions:
        """Outputs, labels and metrics of the current weights on `split`, from one pass."""
        ...


class RunContext:
    """The run as a plugin hook sees it: read-only properties and four actions.

    Properties: `recipe`, `directory`, `data`, `strategy`, `worker_index`, `is_chief`,
    `history`, `initial_step`, `epoch`, `global_step`, `stop_reason`, `trainer`, `reports`. Actions:
    `request_stop(reason)`, `evaluate(split)`, `predict(split)`, `publish(name, report)`. Setting an attribute
    raises `AttributeError` saying what to do instead.
    """

    __slots__ = ("_run",)

    def __init__(self, run: RunState) -> None:
        object.__setattr__(self, "_run", run)

    def __setattr__(self, name: str, value: Any) -> None:
        hint = SET_HINTS.get(
            name, "plugins change a run only through run.request_stop, run.publish and the epoch's `logs`"
        )
        raise AttributeError(f"{READ_ONLY}: {name!r} cannot be set; {hint}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{READ_ONLY}: {name!r} cannot be deleted")

    def __getattr__(self, name: str) -> Any:
        hint = MISSING_HINTS.get(name)
        raise AttributeError(f"RunContext has no attribute {name!r}" + (f"; {hint}" if hint else ""))

    def __repr__(self) -> str:
        return f"RunContext({self.recipe.name!r}, directory={str(self.directory)!r}, epoch={self.epoch})"

    @property
    def recipe(self) -> Recipe:
        """The resolved recipe (after ``extends:`` and ``--set``)."""
        return self._run.recipe

    @property
    def directory(self) -> Path | None:
        """The run directory; on a non-chief worker of a multi-worker run, a temporary folder removed afterwards."""
        return self._run.directory

    @property
    def data(self) -> Pipelines:
        """The data pipelines and what is known about them (``train``, ``validation``, ``test``, ``sizes``,
        ``batch_size`` of ``train``, ``eval_batch_size`` of the others ...)."""
        return self._run.data

    @property
    def strategy(self) -> tf.distribute.Strategy:
        """The `tf.distribute.Strategy` the network was built under."""
        return self._run.strategy

    @property
    def worker_index(self) -> int:
        """This process's index in a multi-worker cluster (0 otherwise)."""
        return self._run.worker_index

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run directory (always true outside multi-worker runs)."""
        return self._run.is_chief

    @property
    def history(self) -> tuple[dict[str, float], ...]:
        """Copies of the rows recorded so far, one per finished epoch: ``{"epoch": N (from 1), **logs}``."""
        return tuple(dict(row) for row in self._run.progress.history)

    @property
    def initial_step(self) -> int:
        """In a run resumed inside an epoch: the steps of epoch ``len(history)`` (from 0) done before this session;
        else 0. The batch indices ``on_batch_end`` gets in that epoch continue from it."""
        return self._run.progress.initial_step

    @property
    def epoch(self) -> int | None:
        """The index (from 0) of the epoch running or just ended; None before the first epoch and in
        ``on_train_end``."""
        return self._run.progress.epoch

    @property
    def global_step(self) -> int:
        """Optimizer steps taken so far (the optimizer's ``iterations``), resumed runs included."""
        return int(self._run.trainer.optimizer.iterations.numpy())

    @property
    def stop_reason(self) -> str | None:
        """Why training stops or stopped early (a stop requested in this epoch included); None while it goes on."""
        progress = self._run.progress
        return progress.stop_reason or progress.stop_request

    @property
    def trainer(self) -> keras.Model:
        """The compiled `Trainer` (the same object hooks receive as ``trainer``; kept for older plugins)."""
        return self._run.trainer

    @property
    def reports(self) -> Mapping[str, dict[str, Any]]:
        """What plugins published with `publish`, by name (read-only; e.g. ``run.reports.get("evaluation")``)."""
        return MappingProxyType(self._run.reports)

    def request_stop(self, reason: str) -> None:
        """Stops training after the current epoch (after the current batch when batch hooks run).

        Args:
            reason: why, in words; the first reason asked for is the run's stop reason (printed,
                saved in ``run.json``).

        Raises:
            ValueError: `reason` is empty.
            RuntimeError: training is over (in ``on_train_end`` or ``on_exception``).
        """
        self._run.progress.request_stop(reason)

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on a split; fires ``on_evaluate_end``.

        Args:
            split: ``"test"`` or ``"validation"``.

        Returns:
            ``{"loss": ..., "accuracy": ...}``: Keras's ``evaluate`` of the compiled loss and metrics.

        Raises:
            TapelineError: the recipe has no such split.
        """
        return self._run.evaluate(split)

    def predict(self, split: str = "test") -> Predictions:
        """The network's outputs on a split, the labels and the metrics ``evaluate`` gives; fires ``on_evaluate_end``.

        For reports that need the outputs (confusion matrices, residuals) and the metrics: one
        ``predict`` pass that also updates the metrics where it gives ``evaluate``'s numbers (the
        stock Trainer, one worker), else ``evaluate`` plus ``predict``.

        Args:
            split: ``"test"`` or ``"validation"``.

        Returns:
            `Predictions` (NumPy outputs and labels in the split's order, and the metrics).

        Raises:
            TapelineError: the recipe has no such split.
        """
        return self._run.predict(split)

    def publish(self, name: str, report: dict[str, Any]) -> None:
        """Makes a copy of `report` available to plugins called later as ``run.reports[name]``.

        Args:
            name: the report's name (a later publish under it replaces it).
            report: a dict; deep-copied, so the publisher may change its own afterwards.

        Raises:
            ValueError: `name` is empty.
            TypeError: `report` is not a dict.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"run.publish needs a non-empty name string (got {name!r})")
        if not isinstance(report, dict):
            raise TypeError(f"run.publish({name!r}, ...) needs a dict report (got {type(report).__name__})")
        self._run.reports[name] = copy.deepcopy(report)
