"""One run's lifecycle: start (fresh or resumed), fit, the result files, and what a failed run leaves."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from framework.data.sharding import training_input
from framework.errors import PluginError, TapelineError, TrainingFailed, error_summary
from framework.files import write_atomic, write_json, write_text
from framework.hooks.adapter import call_hook, call_on_exception, hook_callback
from framework.recipe.loader import recipe_to_yaml
from framework.recipe.sections import Recipe
from framework.runtime.process_state import restores_process_settings
from framework.training.callbacks import state_callback
from framework.training.first_step import check_first_step
from framework.training.run import build_run
from framework.training.run_directory import (
    INTERRUPTED_FILE,
    RECIPE_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    check_resumable,
    next_run_directory,
    prepare_directory,
    write_history,
)
from framework.training.state import finite_weights, restore_state

if TYPE_CHECKING:
    from framework.training.run import Run


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


def keras_callback_error(error: Exception, callbacks: list[keras.callbacks.Callback]) -> PluginError | None:
    """`error` as a `PluginError` naming the recipe's Keras callback and method it was raised in, if one was."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    owner = next((frame for frame in reversed(frames) if any(frame.f_locals.get("self") is c for c in callbacks)), None)
    if owner is None or isinstance(error, PluginError):
        return None
    callback = type(owner.f_locals["self"])
    return PluginError(f"{callback.__module__}:{callback.__qualname__}", owner.f_code.co_name, error)
