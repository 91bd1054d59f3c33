"""One run's lifecycle: start it (fresh or resumed), fit it, end it, and keep what a failed one leaves.

`train` is the whole lifecycle: `start` builds the run and tries its first step before anything
is written (with ``resume``, it loads the saved state), `fit` runs Keras's ``fit`` with the
plugins' hook callback, the recipe's Keras callbacks and the core's recorder, then the results
are written (`framework.training.results`) and ``on_train_end`` is fired; any failure keeps what
it can and fires ``on_exception`` instead.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import keras
import tensorflow as tf

from framework.data.checks import data_failure
from framework.data.sharding import training_input
from framework.errors import PluginError, TapelineError, TrainingFailed, error_summary
from framework.files import write_json, write_text
from framework.hooks.manager import load_plugin_states
from framework.hooks.progress import Progress
from framework.recipe.loader import recipe_to_yaml
from framework.recipe.sections import Recipe, parse_interval
from framework.runtime.distribute import is_multi_worker, worker_place
from framework.runtime.process_state import restores_process_settings
from framework.runtime.step_agreement import StepAgreement
from framework.training.bundle import write_bundle
from framework.training.callbacks import DivergenceGuard, Recording, recorder
from framework.training.layout import check_layout, saved_layout
from framework.training.phases import PhaseSwitch
from framework.training.preemption import Preempted, PreemptionWatch
from framework.training.results import save_failure, save_results
from framework.training.run import Run, build_run
from framework.training.run_directory import (
    AUDIT_FILE,
    RECIPE_FILE,
    SUMMARY_FILE,
    check_resumable,
    next_run_directory,
    prepare_directory,
)
from framework.training.state import STATE_DIR, read_progress, restore_state


def start(recipe: Recipe, directory: Path | None, overwrite: bool, resume: bool, plugins: Sequence[object] = ()) -> Run:
    """A built run in its directory, its first step tried: fresh, or with the saved state and history of a run to
    resume.

    Raises:
        TapelineError: the recipe cannot resume `directory` (`check_resumable`), or the
            directory cannot be used; `RecipeError` when the first step fails; `NothingToDo`
            when a resumed run has nothing left to train.
    """
    layout = None
    if resume:
        check_resumable(recipe, directory)
        layout = saved_layout(directory)
    run = build_run(  # data and names are checked before anything is written
        recipe, plugins=plugins, audit=not resume, global_batch=layout and layout["global_batch_size"]
    )
    changed = check_layout(layout, run.layout)
    run.check_first_step()
    if not run.is_chief:
        where = Path(tempfile.mkdtemp(prefix=f"tapeline-worker{run.worker_index}-"))
    else:
        where = directory if resume else prepare_directory(directory or next_run_directory(recipe), overwrite)
    progress = run.progress
    if resume:
        if run.keras_callbacks:
            warnings.warn(
                "the recipe's Keras callbacks start afresh on --resume: their own counters (ReduceLROnPlateau's "
                "patience ...) are not saved",
                stacklevel=2,
            )
        state = restore_state(run.trainer, directory)
        progress = Progress.resumed(state, [variable.numpy() for variable in run.trainer.metrics_variables])
        load_plugin_states(run.plugins, state["plugins"])
        if run.is_chief:  # the run has not ended until this session writes its summary again
            (directory / SUMMARY_FILE).unlink(missing_ok=True)
            if changed:
                print(f"tapeline: {changed}")
    write_text(where / RECIPE_FILE, recipe_to_yaml(recipe))
    if run.is_chief:
        write_bundle(where, run.data, keras.mixed_precision.global_policy().name)
        if run.data.audit is not None:
            write_json(where / AUDIT_FILE, run.data.audit.as_json())
    return replace(run, directory=where, progress=progress)


@restores_process_settings
def train(
    recipe: Recipe,
    directory: Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    plugins: Sequence[object] = (),
) -> Run:
    """Trains `recipe` and writes its run directory: recipe, history, final weights, summary.

    The lifecycle: build and check (`start`; with `resume`, load the saved state) → ``fit`` →
    write ``model.weights.h5``, the history and ``run.json`` → the plugins' ``on_train_end``.
    When anything after `start` fails (``fit``, a hook, a Keras callback, a write, Ctrl-C), the
    history so far, ``run.json`` with ``"status": "failed"`` and the weights at that moment are
    written, the plugins' ``on_exception`` is called once, and the error is raised.

    With `resume`, `directory` is an earlier run of the same recipe: training continues after
    the last epoch whose state was saved (every run saves it at its epoch ends); a run that ended
    is continued only when `training.epochs` is raised.

    Args:
        recipe: the checked recipe (`framework.recipe.loader.load_recipe`).
        directory: the run directory; None: ``<training.output_dir>/<name>/version_<N>``.
        overwrite: replace a run already in `directory`.
        resume: continue the run in `directory`.
        plugins: plugin objects called besides the recipe's, after them (not written into the run's recipe).

    Returns:
        The finished `Run` (its ``progress`` holds the history and the stop reason).

    Raises:
        PluginError: a plugin or Keras callback raised (naming it and the hook).
        TrainingFailed: any other exception inside training (exit 1), with it as the cause.
        TapelineError: bad input (the recipe, the data, the directory), before anything is written.
        NothingToDo: `resume` of a run that ended, without more `training.epochs`.
        KeyboardInterrupt: Ctrl-C.
        Preempted: SIGTERM during training: the state at the next step was saved (under ``multi_worker`` by every
            worker at the same step; exit 143).
    """
    run = start(recipe, directory, overwrite, resume, plugins)
    started = time.perf_counter()
    results_saved = False
    try:
        fit(run)
        save_results(run, started)
        results_saved = True
        history = run.progress.history
        run.hooks.train_end({key: value for key, value in (history[-1] if history else {}).items() if key != "epoch"})
    except BaseException as error:
        failure = as_failure(run, error)
        save_failure(run, failure, started, results_saved)
        run.hooks.exception(failure)
        if isinstance(failure, (KeyboardInterrupt, Preempted)) and run.is_chief:
            print(f"tapeline: {resume_hint(run.directory)}", file=sys.stderr)
        if failure is error:
            raise
        raise failure from error
    finally:
        if not run.is_chief:
            shutil.rmtree(run.directory, ignore_errors=True)
    return run


def fit(run: Run) -> None:
    """Runs Keras's ``fit`` from where the run is to `training.epochs`, with the plugins' hooks and the recipe's Keras
    callbacks.

    A run resumed mid-epoch first trains the rest of that epoch as a ``fit`` call of its own,
    on the epoch's batches after the saved step (they are read and skipped: the order depends
    only on the seed and the epoch), then the later epochs. Plugins see one training; the
    recipe's Keras callbacks see two ``on_train_begin``/``on_train_end`` pairs.
    """
    agreement = StepAgreement(*worker_place(run.strategy)) if is_multi_worker(run.strategy) else None
    watch = PreemptionWatch(agreement=agreement)
    recording = Recording(run.directory, run.progress, run.plugins, run.data.epoch, run.strategy, watch, run.layout)
    phases = run.recipe.training.phases
    callbacks = [
        *([PhaseSwitch(phases)] if phases else []),  # before anything sees the epoch begin
        DivergenceGuard(),
        run.hooks.callback(),
        *run.keras_callbacks,
        recorder(recording, parse_interval(run.recipe.training.checkpoint_every)),
    ]
    progress = run.progress
    epochs, first_whole = run.recipe.training.epochs, progress.initial_epoch + bool(progress.initial_step)
    progress.training = True
    try:
        with watch:
            if progress.initial_step:
                rest = run.data.train.skip(progress.initial_step)
                fit_epochs(run, rest, progress.initial_epoch, first_whole, callbacks)
            if not run.trainer.stop_training and first_whole < epochs:
                fit_epochs(run, run.data.train, first_whole, epochs, callbacks)
    finally:
        progress.training = False
    if watch.requested:  # SIGTERM after the last call began: the state of the last epoch's end is saved
        raise Preempted(f"preempted by SIGTERM at the end of training, after epoch {len(progress.history)}")
    if run.trainer.stop_training and not progress.stop_reason:  # set by a Keras callback (EarlyStopping ...)
        progress.stop_reason = "a Keras callback stopped training"
    progress.epoch = None


def fit_epochs(
    run: Run, dataset: tf.data.Dataset, first: int, end: int, callbacks: list[keras.callbacks.Callback]
) -> None:
    """Keras's ``fit`` on `dataset` (the training split, or its rest) for epochs `first` to `end` - 1 (from 0)."""
    train, class_weight = training_input(
        dataset, run.data, run.strategy, run.class_weight
    )  # a worker's own files: given to it alone
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


def resume_hint(directory: Path) -> str:
    """Where an interrupted run's resumable state is, and the command that continues it."""
    try:
        where = saved_position(directory)
    except TapelineError:
        return f"no epoch ended, so '{directory}' holds no state to resume from; train again"
    return f"the state saved {where} is in '{directory / STATE_DIR}'; `tapeline train --resume {directory}` continues"


def saved_position(directory: Path) -> str:
    """Where the run's newest state was saved: ``after 1 epoch(s) and 2 step(s) of epoch 2``; `TapelineError` when
    it has none."""
    progress = read_progress(directory)
    done, steps = progress["epochs_done"], progress["steps_done"]
    return f"after {done} epoch(s)" + (f" and {steps} step(s) of epoch {done + 1}" if steps else "")


def as_failure(run: Run, error: BaseException) -> BaseException:
    """The exception a failed run raises for `error`: a Keras callback's named like a plugin's, a `TapelineError` or
    `KeyboardInterrupt` as it is, an error reading the data as a `DataError` (exit 2), any other exception as
    `TrainingFailed` (exit 1) with it as the cause."""
    if not isinstance(error, Exception):
        return error
    named = keras_callback_error(error, run.keras_callbacks)
    if named is not None or isinstance(error, TapelineError):
        return named or error
    unreadable = data_failure(error, run.data.source, run.progress.epoch)
    if unreadable is not None:
        return unreadable
    where = f" in epoch {run.progress.epoch + 1}" if run.progress.epoch is not None else ""
    return TrainingFailed(f"training failed{where}: {error_summary(error)}", cause=error)


def keras_callback_error(error: Exception, callbacks: list[keras.callbacks.Callback]) -> PluginError | None:
    """`error` as a `PluginError` naming the recipe's Keras callback and method it was raised in, if one was."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    owner = next((frame for frame in reversed(frames) if any(frame.f_locals.get("self") is c for c in callbacks)), None)
    if owner is None or isinstance(error, PluginError):
        return None
    callback = type(owner.f_locals["self"])
    return PluginError(f"{callback.__module__}:{callback.__qualname__}", owner.f_code.co_name, error)
