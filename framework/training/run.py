"""A run: everything a recipe builds (data, network, Trainer, plugins) and where its results go."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pluggy
import tensorflow as tf

from framework.build.compile import class_weights, compile_trainer
from framework.build.data import build_data
from framework.build.network import build_network
from framework.data.pipelines import Data
from framework.errors import Problem, RecipeError, TapelineError
from framework.hooks.adapter import call_hook, hook_callback
from framework.hooks.context import Predictions, RunContext
from framework.hooks.manager import load_plugins, needs_every_batch
from framework.hooks.progress import history_row
from framework.hooks.specs import StatefulPlugin
from framework.model.trainer import Trainer
from framework.recipe.schema import dotted
from framework.recipe.sections import AUTO_STEPS_PER_EXECUTION, Recipe
from framework.runtime.configure import configure_tensorflow
from framework.runtime.distribute import is_multi_worker, worker_role
from framework.training.reports import one_pass, predict_split
from framework.training.run_directory import write_history


@dataclass
class Run:
    """The core's run: what a recipe builds (data, Trainer, plugins), where its results go, and its training state.

    Plugins never see this object: hooks get `context`, a read-only `RunContext` over it.
    Under a multi-worker strategy every worker has a Run; only the chief's `directory` is the
    run directory, the others write to a temporary one that is removed after training.
    """

    recipe: Recipe
    data: Data
    trainer: Trainer
    plugins: pluggy.PluginManager
    strategy: tf.distribute.Strategy = field(default_factory=tf.distribute.get_strategy)
    worker_index: int = 0
    is_chief: bool = True
    directory: Path | None = None
    stop_reason: str | None = None
    stop_request: str | None = None  # the first reason given to `RunContext.request_stop`, until the callback stops training
    initial_epoch: int = 0  # epochs done before this session (when resuming)
    initial_step: int = 0  # steps of epoch `initial_epoch` done before this session (resuming mid-epoch)
    epoch_metrics: list[np.ndarray] | None = None  # the running metrics at `initial_step`, put back when that epoch restarts
    epoch: int | None = None  # the epoch running or just ended; None outside `fit`
    training: bool = False  # inside `fit`
    history: list[dict[str, float]] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # what plugins published
    results_saved: bool = False  # the final weights, history and run.json are written
    keras_callbacks: list[keras.callbacks.Callback] = field(default_factory=list)
    class_weight: dict[int, float] | None = None  # every class id's loss weight, when the recipe weights classes
    context: RunContext = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.context = RunContext(self)

    def first_step(self, epoch: int) -> int:
        """The step at which `epoch` starts in this session: the saved step for the epoch a resumed run continues, else 0."""
        return self.initial_step if epoch == self.initial_epoch else 0

    def record_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Adds the epoch's logs to the history and rewrites the history files (when there is a directory)."""
        self.history.append(history_row(epoch, logs))
        if self.directory is not None:
            write_history(self.directory, self.history)

    def stateful_plugins(self) -> dict[str, StatefulPlugin]:
        """The plugins implementing `StatefulPlugin`, by plugin name."""
        return {self.plugins.get_name(p): p for p in self.plugins.get_plugins() if isinstance(p, StatefulPlugin)}

    def plugin_states(self) -> dict[str, dict[str, Any]]:
        """``state_dict()`` of every `StatefulPlugin`, by plugin name (saved with the training state)."""
        return {name: plugin.state_dict() for name, plugin in self.stateful_plugins().items()}

    def load_plugin_states(self, states: dict[str, dict[str, Any]]) -> None:
        """Gives each `StatefulPlugin` its saved state (when resuming)."""
        plugins = self.stateful_plugins()
        for name, state in states.items():
            if name in plugins:
                plugins[name].load_state_dict(state)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hooks of this run's plugins (``run.hook.on_epoch_end(...)``)."""
        return self.plugins.hook

    def split(self, name: str) -> tf.data.Dataset:
        """The batched ``"test"`` or ``"validation"`` split; `TapelineError` when the recipe has none."""
        dataset = getattr(self.data, name)
        if dataset is None:
            raise TapelineError(f"the recipe has no {name} split (set `dataset.validation_split`)")
        return dataset

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on ``"test"`` or ``"validation"``; fires ``on_evaluate_end``."""
        return self.trainer.evaluate(self.split(split), callbacks=[hook_callback(self, split)], verbose=0, return_dict=True)

    def predict(self, split: str = "test") -> Predictions:
        """Outputs, labels and metrics of the current weights on `split`; fires ``on_evaluate_end``.

        One ``predict`` pass gives outputs and labels, and the metrics are computed from them
        (`framework.reports.one_pass`). A Trainer subclass with its own test or loss logic, a
        network with regularization losses and ``multi_worker`` runs take Keras's ``evaluate``
        for the metrics and ``predict`` for the outputs instead. Raises `TapelineError` when
        the recipe has no such split.
        """
        dataset = self.split(split)
        if not one_pass(self.trainer) or is_multi_worker(self.strategy):
            metrics = self.evaluate(split)
            predictions, labels, _ = self.trainer.predict_with_labels(dataset)
            return Predictions(predictions, labels, metrics)
        result = predict_split(self.trainer, dataset, self.data.batch_size)
        call_hook(self.plugins, "on_evaluate_end", trainer=self.trainer, run=self.context, split=split, logs=result.metrics)
        return result


def steps_per_execution(recipe: Recipe, plugins: pluggy.PluginManager, keras_callbacks: list[keras.callbacks.Callback], replicas: int) -> int:
    """The recipe's steps per compiled call; ``auto`` runs several unless a hook needs every batch.

    Keras 3.15 cannot run several steps per call on several replicas (its step loop fails under
    MirroredStrategy), so distributed runs take one.
    """
    steps = recipe.training.steps_per_execution
    if steps == "auto":
        return 1 if replicas > 1 or needs_every_batch(plugins, keras_callbacks) else AUTO_STEPS_PER_EXECUTION
    if steps > 1 and replicas > 1:
        where = ("training", "steps_per_execution")
        raise RecipeError([Problem(recipe.locate(where), f"`{dotted(where)}` must be 1 or 'auto' with {replicas} replicas (got {steps}): Keras 3.15 runs one step per call when distributed")])
    return steps


def warn_about_keras_callbacks(callbacks: list[keras.callbacks.Callback]) -> None:
    """Says what a Keras callback from the recipe does differently from Tapeline's own resume."""
    if any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks):
        warnings.warn(
            "keras.callbacks.BackupAndRestore restores the network's weights and the epoch count, but not the "
            "optimizer's state or the run's history; `tapeline train --resume RUN_DIR` resumes a run exactly",
            stacklevel=2,
        )


def build_run(recipe: Recipe, directory: Path | None = None, plugins: Sequence[object] = ()) -> Run:
    """Builds data, network, Trainer and plugins for `recipe` (nothing is trained or written); `plugins`: extra plugin objects."""
    strategy = configure_tensorflow(recipe)
    plugins, keras_callbacks = load_plugins(recipe, plugins)  # cheap, so their argument errors come before the data loads
    warn_about_keras_callbacks(keras_callbacks)
    data = build_data(recipe, strategy.num_replicas_in_sync, strategy)
    steps = steps_per_execution(recipe, plugins, keras_callbacks, strategy.num_replicas_in_sync)
    with strategy.scope():
        network, data = build_network(recipe, data)
        weights = class_weights(recipe, data)
        trainer = compile_trainer(recipe, network, data, steps)
    return Run(recipe, data, trainer, plugins, strategy, *worker_role(strategy), directory, keras_callbacks=keras_callbacks, class_weight=weights)
