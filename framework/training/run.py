"""A run: everything a recipe builds (data, network, Trainer, plugins), where its results go, and how it is built."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import pluggy
import tensorflow as tf

from framework.build.compile import class_weights, compile_trainer
from framework.build.data import build_data
from framework.build.network import build_network
from framework.data.pipelines import Pipelines
from framework.errors import Problem, RecipeError, TapelineError
from framework.hooks.adapter import Hooks
from framework.hooks.context import Predictions, RunContext
from framework.hooks.manager import batch_interval, load_plugins
from framework.hooks.progress import Progress
from framework.model.trainer import Trainer
from framework.recipe.components import recipe_error
from framework.recipe.schema import dotted
from framework.recipe.sections import AUTO_STEPS_PER_EXECUTION, Recipe
from framework.runtime.distribute import (
    Worker,
    is_multi_worker,
    make_strategy,
    split_cpu,
    worker_role,
)
from framework.runtime.precision import resolve_precision
from framework.training.first_step import check_first_step
from framework.training.layout import layout_of, per_replica_batch
from framework.training.phases import phase_problem
from framework.training.reports import one_pass, predict_split


@dataclass(frozen=True)
class Run:
    """What a recipe builds (data, Trainer, plugins) and where its results go; its mutable parts are
    `progress` (the training loop's position) and `reports` (what plugins published).

    Plugins never see this object: hooks get `context`, a read-only `RunContext` over it, and
    `hooks` fires them. Under a multi-worker strategy every worker has a Run; only the chief's
    `directory` is the run directory, the others write to a temporary one that is removed
    after training.

    Attributes:
        recipe: the checked recipe.
        data: the batched pipelines.
        trainer: the compiled Trainer around the network.
        plugins: the recipe's plugins (and extra ones), in calling order.
        strategy: the `tf.distribute.Strategy` the Trainer was built under.
        worker: this process's place in a multi-worker cluster.
        keras_callbacks: the Keras callbacks the recipe names among its plugins.
        class_weight: every class id's loss weight, when the recipe weights classes.
        directory: where the run is written; None for a run that is only built (validate, evaluate).
        progress: the training loop's position and outcome.
        reports: what plugins published with ``run.publish``, by name.
    """

    recipe: Recipe
    data: Pipelines
    trainer: Trainer
    plugins: pluggy.PluginManager
    strategy: tf.distribute.Strategy
    worker: Worker = Worker(0, True)
    keras_callbacks: tuple[keras.callbacks.Callback, ...] = ()
    class_weight: dict[int, float] | None = None
    directory: Path | None = None
    progress: Progress = field(default_factory=Progress)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    context: RunContext = field(init=False, repr=False, compare=False)
    hooks: Hooks = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        context = RunContext(self)
        object.__setattr__(self, "context", context)  # frozen: set once, here
        object.__setattr__(
            self, "hooks", Hooks(self.plugins, context, self.progress, self.strategy, self.data.steps_per_epoch)
        )

    @property
    def worker_index(self) -> int:
        """This process's index among the cluster's workers (0 outside multi-worker runs)."""
        return self.worker.index

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run directory."""
        return self.worker.is_chief

    @property
    def layout(self) -> dict[str, int]:
        """The replicas, global batch and file shards this run trains on (`framework.training.layout`)."""
        shards = self.data.shard.count if self.data.shard else 1
        return layout_of(self.strategy.num_replicas_in_sync, self.data.batch_size, shards)

    @property
    def history(self) -> list[dict[str, float]]:
        """One row per finished epoch, ``{"epoch": N (from 1), **logs}`` (`Progress.history`)."""
        return self.progress.history

    @property
    def stop_reason(self) -> str | None:
        """Why training stopped early, or None (`Progress.stop_reason`)."""
        return self.progress.stop_reason

    def check_first_step(self) -> None:
        """Tries one training step and one evaluation batch, undone afterwards; `RecipeError` at the
        recipe line of the failing component (`framework.training.first_step`)."""
        check_first_step(self.recipe, self.trainer, self.data, self.class_weight, self.strategy, self.network_saver())

    def network_saver(self) -> str | None:
        """What saves the whole network as a ``.keras`` file every epoch: a plugin whose class sets
        ``saves_network = True`` (``checkpoint``), or a Keras ``ModelCheckpoint`` saving more than weights."""
        for plugin in self.plugins.get_plugins():
            if getattr(type(plugin), "saves_network", False):
                return f"the {self.plugins.get_name(plugin)!r} plugin"
        for callback in self.keras_callbacks:
            if isinstance(callback, keras.callbacks.ModelCheckpoint) and not callback.save_weights_only:
                return "keras.callbacks.ModelCheckpoint"
        return None

    def split(self, name: str) -> tf.data.Dataset:
        """The batched ``"test"``, ``"validation"`` or ``"train"`` split (unshuffled, not augmented); `TapelineError`
        when the recipe has none."""
        dataset = self.data.in_order(name)
        if dataset is None:
            raise TapelineError(f"the recipe has no {name} split (set `dataset.validation_split`)")
        return dataset

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on ``"test"`` or ``"validation"``; fires ``on_evaluate_end``."""
        return self.trainer.evaluate(
            self.split(split), callbacks=[self.hooks.callback(split)], verbose=0, return_dict=True
        )

    def predict(self, split: str = "test") -> Predictions:
        """Outputs, labels and metrics of the current weights on `split`; fires ``on_evaluate_end``.

        One ``predict`` pass gives outputs and labels and updates the metrics
        (`framework.training.reports.one_pass`). A Trainer subclass with its own test or loss
        logic and ``multi_worker`` runs take Keras's ``evaluate`` for the metrics and ``predict``
        for the outputs instead. Raises `TapelineError` when the recipe has no such split.
        """
        dataset = self.split(split)
        if not one_pass(self.trainer) or is_multi_worker(self.strategy):
            metrics = self.evaluate(split)
            predictions, labels, _ = self.trainer.predict_with_labels(dataset)
            return Predictions(predictions, labels, metrics)
        result = predict_split(self.trainer, dataset)
        self.hooks.evaluate_end(split, result.metrics)
        return result


def configure_tensorflow(recipe: Recipe) -> tf.distribute.Strategy:
    """Devices, the distribution strategy, seeds, determinism and precision policy, before anything is built."""
    section = recipe.distribute
    if section.cpu_devices:
        split_cpu(section.cpu_devices)
    strategy = make_strategy(
        section.strategy, section.devices, section.communication, section.worker_timeout, section.port_base
    )
    if recipe.seed is not None:
        keras.utils.set_random_seed(recipe.seed)
    if recipe.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(resolve_precision(recipe.training.precision))
    return strategy


def steps_per_execution(
    recipe: Recipe, plugins: pluggy.PluginManager, keras_callbacks: list[keras.callbacks.Callback], replicas: int
) -> int:
    """The recipe's steps per compiled call; ``auto`` runs `AUTO_STEPS_PER_EXECUTION`, or as many as divide the
    batch hooks' `batch_interval` (1 when a hook needs every batch).

    Keras 3.15 cannot run several steps per call on several replicas (its step loop fails under
    MirroredStrategy), so distributed runs take one.
    """
    steps = recipe.training.steps_per_execution
    if steps == "auto":
        if replicas > 1:
            return 1
        interval = batch_interval(plugins, keras_callbacks)
        return AUTO_STEPS_PER_EXECUTION if interval is None else math.gcd(AUTO_STEPS_PER_EXECUTION, interval)
    if steps > 1 and replicas > 1:
        where = ("training", "steps_per_execution")
        raise RecipeError(
            [
                Problem(
                    recipe.locate(where),
                    f"`{dotted(where)}` must be 1 or 'auto' with {replicas} replicas (got {steps}): Keras 3.15 runs "
                    "one step per call when distributed",
                )
            ]
        )
    return steps


def warn_about_keras_callbacks(callbacks: list[keras.callbacks.Callback]) -> None:
    """Says what a Keras callback from the recipe does differently from Tapeline's own resume."""
    if any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks):
        warnings.warn(
            "keras.callbacks.BackupAndRestore restores the network's weights and the epoch count, but not the "
            "optimizer's state or the run's history; `tapeline train --resume RUN_DIR` resumes a run exactly",
            stacklevel=2,
        )


def check_phases(recipe: Recipe, trainer: keras.Model, plugins: pluggy.PluginManager) -> None:
    """`RecipeError` at the phase's line when a phase of `training.phases` cannot train this network, or sets a
    learning rate that the lr_schedule plugin would set again every epoch."""
    scheduled = any(getattr(plugin, "name", None) == "lr_schedule" for plugin in plugins.get_plugins())
    for index, phase in enumerate(recipe.training.phases or ()):
        problem = phase_problem(trainer.network, trainer.optimizer, phase)
        if problem is None and scheduled and phase.learning_rate is not None:
            problem = "learning_rate and the lr_schedule plugin both set the learning rate; give one of them"
        if problem is not None:
            raise recipe_error(recipe, ("training", "phases", index), f"`training.phases[{index}]`: {problem}")


def build_run(
    recipe: Recipe,
    directory: Path | None = None,
    plugins: Sequence[object] = (),
    audit: bool = False,
    global_batch: int | None = None,
) -> Run:
    """Builds data, network, Trainer and plugins for `recipe` (nothing is trained or written); `plugins`: extra plugin
    objects; `audit`: run the leakage audit (`framework.data.audit`) as ``dataset.audit`` says; `global_batch`: the
    samples a step of a resumed run, kept on any number of replicas (its ``training.batch_size`` becomes this share).

    Raises:
        TapelineError: `global_batch` does not divide by this strategy's replicas; and what building raises.
    """
    strategy = configure_tensorflow(recipe)
    batch = per_replica_batch(recipe.training.batch_size, strategy.num_replicas_in_sync, global_batch)
    recipe = replace(recipe, training=replace(recipe.training, batch_size=batch))
    plugins, keras_callbacks = load_plugins(
        recipe, plugins
    )  # cheap, so their argument errors come before the data loads
    warn_about_keras_callbacks(keras_callbacks)
    data = build_data(recipe, strategy.num_replicas_in_sync, strategy, audit)
    steps = steps_per_execution(recipe, plugins, keras_callbacks, strategy.num_replicas_in_sync)
    with strategy.scope():
        network, data = build_network(recipe, data)
        weights = class_weights(recipe, data)
        trainer = compile_trainer(recipe, network, data, steps)
    check_phases(recipe, trainer, plugins)
    return Run(
        recipe, data, trainer, plugins, strategy, worker_role(strategy), tuple(keras_callbacks), weights, directory
    )
