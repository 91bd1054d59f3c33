"""A run: everything a recipe builds (data, network, Trainer, plugins) and where its results go."""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import keras
import numpy as np
import pluggy
import tensorflow as tf

from framework.callback import EpochRecorder, hook_callback, keras_callback_error
from framework.build import build_data, build_network, class_weights, compile_trainer
from framework.distribute import make_strategy, split_cpu, worker_role
from framework.errors import Problem, RecipeError, TapelineError
from framework.files import write_atomic, write_csv, write_json, write_text
from framework.pipelines import Data
from framework.plugin_manager import load_plugins, needs_every_batch
from framework.precision import resolve_precision
from framework.probe import check_first_step
from framework.recipe import AUTO_STEPS_PER_EXECUTION, Recipe, recipe_to_yaml
from framework.schema import dotted
from framework.run_directory import HISTORY_CSV, HISTORY_JSON, INTERRUPTED_FILE, RECIPE_FILE, SUMMARY_FILE, WEIGHTS_FILE, check_resumable, next_run_directory, prepare_directory
from framework.state import history_row, restore_state
from framework.trainer import Trainer

T = TypeVar("T")


@dataclass
class Run:
    """What plugins see: the recipe, the output directory, the data, and why training stopped.

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
    initial_epoch: int = 0  # epochs done before this session (when resuming)
    history: list[dict[str, float]] = field(default_factory=list)
    keras_callbacks: list[keras.callbacks.Callback] = field(default_factory=list)
    class_weight: dict[int, float] | None = None  # every class id's loss weight, when the recipe weights classes

    def record_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Adds the epoch's logs to the history and rewrites the history files (when there is a directory)."""
        self.history.append(history_row(epoch, logs))
        if self.directory is not None:
            write_history(self)

    def plugin_states(self) -> dict[str, dict[str, Any]]:
        """``state_dict()`` of every plugin that has one, by plugin name (saved with checkpoints)."""
        return {self.plugins.get_name(p): p.state_dict() for p in self.plugins.get_plugins() if hasattr(p, "state_dict")}

    def load_plugin_states(self, states: dict[str, dict[str, Any]]) -> None:
        """Gives each plugin with ``load_state_dict`` its saved state (when resuming)."""
        for name, state in states.items():
            plugin = self.plugins.get_plugin(name)
            if plugin is not None and hasattr(plugin, "load_state_dict"):
                plugin.load_state_dict(state)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hooks of this run's plugins (``run.hook.on_epoch_end(...)``)."""
        return self.plugins.hook

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on ``"test"`` or ``"validation"``; fires ``on_evaluate_end``."""
        dataset = getattr(self.data, split)
        if dataset is None:
            raise TapelineError(f"the recipe has no {split} split (set `dataset.validation_split`)")
        callback = hook_callback(self, split)
        return self.trainer.evaluate(dataset, callbacks=[callback], verbose=0, return_dict=True)


def configure_tensorflow(recipe: Recipe) -> tf.distribute.Strategy:
    """Devices, the distribution strategy, seeds, determinism and precision policy, before anything is built."""
    section = recipe.distribute
    if section.cpu_devices:
        split_cpu(section.cpu_devices)
    strategy = make_strategy(section.strategy, section.devices, section.communication)
    if recipe.seed is not None:
        keras.utils.set_random_seed(recipe.seed)
    if recipe.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(resolve_precision(recipe.training.precision))
    return strategy


def restores_process_settings(function: Callable[..., T]) -> Callable[..., T]:
    """Decorator: after `function`, the Keras dtype policy is the one it found.

    `configure_tensorflow` sets the policy for the whole process; restoring it keeps several
    runs in one process (tests, sweeps, notebooks) from inheriting each other's precision. Not
    undone: the random seeds (a later seeded run sets its own) and op determinism (TensorFlow
    2.21 has no public call that turns it off again; it only makes later runs slower).
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        policy = keras.mixed_precision.global_policy()
        try:
            return function(*args, **kwargs)
        finally:
            keras.mixed_precision.set_global_policy(policy)

    return wrapper


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


def build_run(recipe: Recipe, directory: Path | None = None) -> Run:
    """Builds data, network, Trainer and plugins for `recipe` (nothing is trained or written)."""
    strategy = configure_tensorflow(recipe)
    plugins, keras_callbacks = load_plugins(recipe)  # cheap, so their argument errors come before the data loads
    warn_about_keras_callbacks(keras_callbacks)
    data = build_data(recipe, strategy.num_replicas_in_sync)
    steps = steps_per_execution(recipe, plugins, keras_callbacks, strategy.num_replicas_in_sync)
    with strategy.scope():
        network, data = build_network(recipe, data)
        weights = class_weights(recipe, data)
        trainer = compile_trainer(recipe, network, data, steps)
    return Run(recipe, data, trainer, plugins, strategy, *worker_role(strategy), directory, keras_callbacks=keras_callbacks, class_weight=weights)


def write_history(run: Run) -> None:
    """The run's epoch logs as JSON (a list of rows) and CSV (a column per entry)."""
    write_json(run.directory / HISTORY_JSON, run.history)
    write_csv(run.directory / HISTORY_CSV, run.history, list(dict.fromkeys(key for row in run.history for key in row)))


def start(recipe: Recipe, directory: Path | None, overwrite: bool, resume: bool) -> Run:
    """A built run in its directory: fresh, or with the saved state and history of a run to resume."""
    if resume:
        check_resumable(recipe, directory)
    run = build_run(recipe)  # data and names are checked before anything is written
    check_first_step(run)
    if not run.is_chief:
        run.directory = Path(tempfile.mkdtemp(prefix=f"tapeline-worker{run.worker_index}-"))
    else:
        run.directory = directory if resume else prepare_directory(directory or next_run_directory(recipe), overwrite)
    if resume:
        if run.keras_callbacks:
            warnings.warn("the recipe's Keras callbacks start afresh on --resume: their own counters (ReduceLROnPlateau's patience ...) are not saved", stacklevel=2)
        progress = restore_state(run.trainer, directory)
        run.initial_epoch, run.history = progress["epochs_done"], progress["history"]
        run.load_plugin_states(progress["plugins"])
        if run.is_chief:  # the run has not ended until this session writes its summary again
            (directory / SUMMARY_FILE).unlink(missing_ok=True)
    write_text(run.directory / RECIPE_FILE, recipe_to_yaml(recipe))
    return run


def salvage_weights(run: Run) -> None:
    """After a failure or Ctrl-C, keeps the network's weights as ``interrupted.weights.h5`` if they are finite.

    They are for inspection: resuming starts from the last epoch whose state was saved.
    """
    try:
        if all(np.isfinite(w).all() for w in run.trainer.network.get_weights()):
            write_atomic(run.directory / INTERRUPTED_FILE, run.trainer.network.save_weights)
    except Exception as error:  # never hide the failure being handled
        print(f"tapeline: warning: the weights could not be kept: {error}", file=sys.stderr)


@restores_process_settings
def train(recipe: Recipe, directory: Path | None = None, overwrite: bool = False, resume: bool = False) -> Run:
    """Trains `recipe` and writes its run directory: recipe, history, final weights, summary.

    With `resume`, `directory` is an earlier run of the same recipe: training continues after
    the last epoch whose state was saved (every run saves it at its epoch ends). A run that ended is continued
    only when `training.epochs` is raised; otherwise `NothingToDo` is raised and nothing is
    written (see `check_resumable`).
    """
    run = start(recipe, directory, overwrite, resume)
    started = time.perf_counter()
    try:
        run.trainer.fit(
            run.data.train,
            epochs=recipe.training.epochs,
            initial_epoch=run.initial_epoch,
            validation_data=run.data.validation,
            class_weight=run.class_weight,
            callbacks=[hook_callback(run), *run.keras_callbacks, EpochRecorder(run)],
            shuffle=False,  # the pipeline shuffles
            verbose=0,
        )
        write_atomic(run.directory / WEIGHTS_FILE, run.trainer.network.save_weights)
    except Exception as error:
        salvage_weights(run)
        raise keras_callback_error(error, run.keras_callbacks) or error
    except BaseException:  # Ctrl-C
        salvage_weights(run)
        raise
    finally:
        if not run.is_chief:
            shutil.rmtree(run.directory, ignore_errors=True)
    if run.is_chief:
        summary = {"epochs": len(run.history), "stop_reason": run.stop_reason, "seconds": time.perf_counter() - started, "samples": run.data.sizes}
        distribution = {"strategy": recipe.distribute.strategy, "replicas": run.strategy.num_replicas_in_sync, "global_batch_size": run.data.batch_size,
                        "precision": keras.mixed_precision.global_policy().name}
        write_json(run.directory / SUMMARY_FILE, summary | distribution)
    return run


@restores_process_settings
def evaluate_weights(recipe: Recipe, weights: Path) -> dict[str, float]:
    """Test metrics of `recipe`'s network with `weights` (a weights file or a run directory) loaded."""
    file = weights / WEIGHTS_FILE if weights.is_dir() else weights
    if not file.is_file():
        raise TapelineError(f"weights file '{file}' does not exist")
    run = build_run(recipe)
    try:
        run.trainer.network.load_weights(file)
    except (ValueError, OSError) as error:
        raise TapelineError(f"cannot load '{file}' into model {recipe.model.name!r}: {error}") from None
    return run.evaluate("test")
