"""What a training session leaves in its run directory: the final weights, the history and ``run.json``,
or, when it fails, what can be kept of it."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import keras

from framework.errors import error_summary
from framework.files import write_atomic, write_json
from framework.training.run_directory import (
    INTERRUPTED_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    write_history,
)
from framework.training.state import finite_weights

if TYPE_CHECKING:
    from framework.training.run import Run


def summary(run: Run, started: float, error: BaseException | None = None) -> dict[str, Any]:
    """The content of ``run.json``.

    Args:
        run: the run, after its session.
        started: `time.perf_counter()` when the session started.
        error: the exception the session failed with, or None.

    Returns:
        ``status`` (`status`; with ``error`` for a session that did not end), ``epochs``, ``stop_reason``,
        ``seconds``, ``samples`` per split, ``skipped`` (what the reader left out, by reason), ``strategy``,
        ``replicas``, ``global_batch_size`` (training samples a step), ``global_eval_batch_size`` (samples a
        batch of the validation and test passes) and ``precision`` (the Keras dtype policy).
    """
    stopped_early = bool(run.progress.stop_reason) and len(run.progress.history) < run.recipe.training.epochs
    outcome = {"status": status(error, stopped_early)}
    if error is not None:
        outcome["error"] = error_summary(error)
    return outcome | {
        "epochs": len(run.progress.history),
        "stop_reason": run.progress.stop_reason,
        "seconds": time.perf_counter() - started,
        "samples": run.data.sizes,
        "skipped": run.data.skipped,
        "strategy": run.recipe.distribute.strategy,
        "replicas": run.strategy.num_replicas_in_sync,
        "global_batch_size": run.data.batch_size,
        "global_eval_batch_size": run.data.eval_batch_size,
        "precision": keras.mixed_precision.global_policy().name,
    }


def status(error: BaseException | None, stopped_early: bool) -> str:
    """How a training session ended, as ``run.json`` says it: ``completed`` (every epoch), ``stopped_early`` (a plugin
    or Keras callback stopped it before its last epoch), ``interrupted`` (Ctrl-C), ``preempted`` (SIGTERM, its state
    saved) or ``failed``. The last three have not ended the run: ``--resume`` continues them."""
    if error is None:
        return "stopped_early" if stopped_early else "completed"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "preempted" if getattr(error, "preempted", False) else "failed"


def save_results(run: Run, started: float) -> None:
    """Writes the final weights, the history and (on the chief) ``run.json``."""
    write_atomic(run.directory / WEIGHTS_FILE, run.trainer.network.save_weights)
    write_history(run.directory, run.progress.history)
    if run.is_chief:
        write_json(run.directory / SUMMARY_FILE, summary(run, started))


def keep_interrupted_weights(run: Run) -> None:
    """Writes the network's weights as ``interrupted.weights.h5`` if finite (for inspection: resuming uses the saved
    state)."""
    if finite_weights(run.trainer.network):
        write_atomic(run.directory / INTERRUPTED_FILE, run.trainer.network.save_weights)


def save_failure(run: Run, error: BaseException, started: float, results_saved: bool) -> None:
    """Keeps what a failed session can leave: the weights at that moment (unless `results_saved`), the history so far
    and ``run.json`` saying it failed. Never raises: a write that fails too is reported on stderr."""
    writes = [("the history", lambda: write_history(run.directory, run.progress.history))]
    if not results_saved:
        writes.insert(0, ("the weights", lambda: keep_interrupted_weights(run)))
    if run.is_chief:
        writes.append(("run.json", lambda: write_json(run.directory / SUMMARY_FILE, summary(run, started, error))))
    for what, write in writes:
        try:
            write()
        except Exception as failure:  # never hide the error being handled
            print(f"tapeline: warning: {what} could not be kept: {error_summary(failure)}", file=sys.stderr)
