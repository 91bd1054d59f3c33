"""A run: everything a recipe builds (data, network, Trainer, plugins) and where its results go."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pluggy
import tensorflow as tf

from framework.callback import hook_callback, keras_callback_error, state_callback
from framework.build import build_data, build_network, class_weights, compile_trainer
from framework.context import RunContext
from framework.distribute import is_multi_worker, make_strategy, split_cpu, worker_role
from framework.errors import Problem, RecipeError, TapelineError, TrainingFailed, error_summary
from framework.files import write_atomic, write_json, write_text
from framework.hooks import call_hook, call_on_exception
from framework.hookspecs import StatefulPlugin
from framework.pipelines import Data
from framework.plugin_manager import load_plugins, needs_every_batch
from framework.precision import resolve_precision
from framework.process_state import restores_process_settings
from framework.probe import check_first_step
from framework.recipe import Recipe, recipe_to_yaml
from framework.reports import Predictions, one_pass, predict_split
from framework.sections import AUTO_STEPS_PER_EXECUTION
from framework.schema import dotted
from framework.sharding import training_input
from framework.run_directory import INTERRUPTED_FILE, RECIPE_FILE, SUMMARY_FILE, WEIGHTS_FILE, check_resumable, next_run_directory, prepare_directory, write_history
from framework.state import finite_weights, history_row, restore_state
from framework.trainer import Trainer


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


def start(recipe: Recipe, directory: Path | None, overwrite: bool, resume: bool, plugins: Sequence[object] = ()) -> Run:
    """A built run in its directory: fresh, or with the saved state and history of a run to resume."""
    if resume:
        check_resumable(recipe, directory)
    run = build_run(recipe, plugins=plugins)  # data and names are checked before anything is written
    check_first_step(run)
    if not run.is_chief:
        run.directory = Path(tempfile.mkdtemp(prefix=f"tapeline-worker{run.worker_index}-"))
    else:
        run.directory = directory if resume else prepare_directory(directory or next_run_directory(recipe), overwrite)
    if resume:
        if run.keras_callbacks:
            warnings.warn("the recipe's Keras callbacks start afresh on --resume: their own counters (ReduceLROnPlateau's patience ...) are not saved", stacklevel=2)
        progress = restore_state(run.trainer, directory)
        run.initial_epoch, run.initial_step, run.history = progress["epochs_done"], progress["steps_done"], progress["history"]
        run.epoch_metrics = [variable.numpy() for variable in run.trainer.metrics_variables]
        run.load_plugin_states(progress["plugins"])
        if run.is_chief:  # the run has not ended until this session writes its summary again
            (directory / SUMMARY_FILE).unlink(missing_ok=True)
    write_text(run.directory / RECIPE_FILE, recipe_to_yaml(recipe))
    return run


def keep_interrupted_weights(run: Run) -> None:
    """Writes the network's weights as ``interrupted.weights.h5`` if finite (for inspection: resuming uses the saved state)."""
    if finite_weights(run.trainer.network):
        write_atomic(run.directory / INTERRUPTED_FILE, run.trainer.network.save_weights)


@restores_process_settings
def train(recipe: Recipe, directory: Path | None = None, overwrite: bool = False, resume: bool = False, plugins: Sequence[object] = ()) -> Run:
    """Trains `recipe` and writes its run directory: recipe, history, final weights, summary.

    The lifecycle: build and check (`start`; with `resume`, load the saved state) → ``fit`` →
    write ``model.weights.h5``, the history and ``run.json`` → the plugins' ``on_train_end``.
    When anything after `start` fails (``fit``, a hook, a Keras callback, a write, Ctrl-C), the
    history so far, ``run.json`` with ``"status": "failed"`` and the weights at that moment are
    written, the plugins' ``on_exception`` is called once, and the error is raised: a
    `PluginError` naming the plugin and hook, a `TapelineError`, `TrainingFailed` for any other
    exception (exit 1), or `KeyboardInterrupt`.

    With `resume`, `directory` is an earlier run of the same recipe: training continues after
    the last epoch whose state was saved (every run saves it at its epoch ends); a run that ended
    is continued only when `training.epochs` is raised, else `NothingToDo` (`check_resumable`).
    `plugins`: plugin objects to call besides the recipe's, after them (not written into the run's recipe).
    """
    run = start(recipe, directory, overwrite, resume, plugins)
    started = time.perf_counter()
    try:
        fit(run)
        save_results(run, started)
        last = {key: value for key, value in (run.history[-1] if run.history else {}).items() if key != "epoch"}
        call_hook(run.plugins, "on_train_end", trainer=run.trainer, run=run.context, logs=last)
    except BaseException as error:
        failure = as_failure(run, error)
        save_failure(run, failure, started)
        call_on_exception(run.plugins, run.trainer, run.context, failure)
        if failure is error:
            raise
        raise failure from error
    finally:
        if not run.is_chief:
            shutil.rmtree(run.directory, ignore_errors=True)
    return run


def fit(run: Run) -> None:
    """Runs Keras's ``fit`` from where the run is to `training.epochs`, with the plugins' hooks and the recipe's Keras callbacks.

    A run resumed mid-epoch first trains the rest of that epoch as a ``fit`` call of its own,
    on the epoch's batches after the saved step (they are read and skipped: the order depends
    only on the seed and the epoch), then the later epochs. Plugins see one training; the
    recipe's Keras callbacks see two ``on_train_begin``/``on_train_end`` pairs.
    """
    callbacks = [hook_callback(run), *run.keras_callbacks, state_callback(run)]
    epochs, first_whole = run.recipe.training.epochs, run.initial_epoch + bool(run.initial_step)
    run.training = True
    try:
        if run.initial_step:
            fit_epochs(run, run.data.train.skip(run.initial_step), run.initial_epoch, first_whole, callbacks)
        if not run.trainer.stop_training and first_whole < epochs:
            fit_epochs(run, run.data.train, first_whole, epochs, callbacks)
    finally:
        run.training = False
    if run.trainer.stop_training and not run.stop_reason:  # set by a Keras callback (EarlyStopping ...)
        run.stop_reason = "a Keras callback stopped training"
    run.epoch = None


def fit_epochs(run: Run, dataset: tf.data.Dataset, first: int, end: int, callbacks: list[keras.callbacks.Callback]) -> None:
    """Keras's ``fit`` on `dataset` (the training split, or its rest) for epochs `first` to `end` - 1 (from 0)."""
    train, class_weight = training_input(dataset, run.data, run.strategy, run.class_weight)  # a worker's own files: given to it alone
    run.trainer.fit(
        train,
        epochs=end,
        initial_epoch=first,
        validation_data=run.data.validation,
        class_weight=class_weight,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=0,
    )


def summary(run: Run, started: float, error: BaseException | None = None) -> dict[str, Any]:
    """``run.json``: status (``completed`` or ``failed`` with the error), epochs, stop reason, seconds, samples per split, distribution, precision."""
    outcome = {"status": "failed", "error": error_summary(error)} if error is not None else {"status": "completed"}
    return outcome | {
        "epochs": len(run.history), "stop_reason": run.stop_reason, "seconds": time.perf_counter() - started, "samples": run.data.sizes,
        "strategy": run.recipe.distribute.strategy, "replicas": run.strategy.num_replicas_in_sync, "global_batch_size": run.data.batch_size,
        "precision": keras.mixed_precision.global_policy().name,
    }


def save_results(run: Run, started: float) -> None:
    """Writes the final weights, the history and (on the chief) ``run.json``."""
    write_atomic(run.directory / WEIGHTS_FILE, run.trainer.network.save_weights)
    write_history(run.directory, run.history)
    if run.is_chief:
        write_json(run.directory / SUMMARY_FILE, summary(run, started))
    run.results_saved = True


def as_failure(run: Run, error: BaseException) -> BaseException:
    """The exception a failed run raises for `error`: a Keras callback's named like a plugin's, a `TapelineError` or
    `KeyboardInterrupt` as it is, any other exception as `TrainingFailed` (exit 1) with it as the cause."""
    if not isinstance(error, Exception):
        return error
    named = keras_callback_error(error, run.keras_callbacks)
    if named is not None or isinstance(error, TapelineError):
        return named or error
    where = f" in epoch {run.epoch + 1}" if run.epoch is not None else ""
    return TrainingFailed(f"training failed{where}: {error_summary(error)}", cause=error)


def save_failure(run: Run, error: BaseException, started: float) -> None:
    """Keeps what a failed run can leave: the weights at that moment (unless saved), the history so far and ``run.json``
    saying it failed. Never raises: a write that fails too is reported on stderr."""
    writes = [("the history", lambda: write_history(run.directory, run.history))]
    if not run.results_saved:
        writes.insert(0, ("the weights", lambda: keep_interrupted_weights(run)))
    if run.is_chief:
        writes.append(("run.json", lambda: write_json(run.directory / SUMMARY_FILE, summary(run, started, error))))
    for what, write in writes:
        try:
            write()
        except Exception as failure:  # never hide the error being handled
            print(f"tapeline: warning: {what} could not be kept: {error_summary(failure)}", file=sys.stderr)


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
