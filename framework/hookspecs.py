"""Every hook a Tapeline plugin can implement, grouped by phase.

Hooks are called with keyword arguments only, ``trainer`` first. A plugin implements a hook
by defining a method of the same name decorated with `framework.hookimpl`; it may accept any
subset of the arguments listed here. Plugins are called in ascending ``order`` (a class
attribute, default 50), then in recipe order. Epochs and batches count from 0, as in Keras.

Hooks fire from one Keras callback in the Python training loop, between compiled steps,
never inside them. If no plugin implements `on_batch_end`, Tapeline's callback has no batch
method at all: no hook call and no waiting for the step's results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from framework.run import Run
    from framework.trainer import Trainer

hookspec = pluggy.HookspecMarker("tapeline")
hookimpl = pluggy.HookimplMarker("tapeline")

# --- run phase ----------------------------------------------------------------------------


@hookspec
def on_train_begin(trainer: Trainer, run: Run) -> None:
    """Called when training starts, after the model is compiled and before the first epoch.

    Args:
        trainer: the compiled `Trainer`.
        run: the `Run`: recipe, output directory, data pipelines and stop reason.

    Returns nothing. Cannot stop training (raise to abort the run instead).
    """


@hookspec
def on_train_end(trainer: Trainer, run: Run, logs: dict[str, float]) -> None:
    """Called when training ends, normally or because a plugin stopped it.

    Args:
        trainer: the `Trainer`, holding the final weights.
        run: the `Run`; ``run.stop_reason`` says why training stopped early, if it did.
        logs: the last epoch's logs, with the entries plugins added (empty if no epoch ran).

    Returns nothing. Training is already over.
    """


# --- epoch phase --------------------------------------------------------------------------


@hookspec
def on_epoch_begin(trainer: Trainer, run: Run, epoch: int) -> None:
    """Called when an epoch starts, before its first batch.

    Args:
        trainer: the `Trainer`.
        run: the `Run`.
        epoch: the epoch index, from 0.

    Returns nothing. Cannot stop training.
    """


@hookspec
def on_epoch_end(trainer: Trainer, run: Run, epoch: int, logs: dict[str, float]) -> str | None:
    """Called when an epoch ends, after validation (if any).

    Args:
        trainer: the `Trainer`.
        run: the `Run`.
        epoch: the epoch index, from 0.
        logs: the epoch's mean training metrics (``loss``, ``accuracy`` ...) and ``val_*``
            metrics. A plugin may add entries; plugins called after it see them, and they
            are recorded in the run's history.

    Returns a reason (a non-empty string) to stop training after this epoch, or None.
    """


# --- batch phase --------------------------------------------------------------------------


@hookspec
def on_batch_end(trainer: Trainer, run: Run, epoch: int, batch: int, logs: dict[str, float]) -> str | None:
    """Called when a compiled call of training steps ends: after every batch, or with
    ``training.steps_per_execution: N`` after batches N-1, 2N-1, ... and the epoch's last batch.

    Implementing this hook makes every step wait for its results on the host (and makes
    ``training.steps_per_execution: auto`` run one step per call); leave it unimplemented
    unless the plugin needs per-batch values.

    Args:
        trainer: the `Trainer`.
        run: the `Run`.
        epoch: the epoch index, from 0.
        batch: the index of the last batch run, from 0 within the epoch (never past its last batch).
        logs: running means of the epoch's metrics so far (``loss``, ``accuracy`` ...).

    Returns a reason (a non-empty string) to stop training after this batch, or None.
    """


# --- evaluation phase ---------------------------------------------------------------------


@hookspec
def on_evaluate_end(trainer: Trainer, run: Run, split: str, logs: dict[str, float]) -> None:
    """Called when an evaluation pass over a data split ends.

    Args:
        trainer: the `Trainer`.
        run: the `Run`.
        split: ``"validation"`` (Keras's validation pass after each epoch) or ``"test"``
            (the evaluation plugin, `tapeline evaluate`, ``run.evaluate()``).
        logs: the split's metrics, without prefix (``loss``, ``accuracy`` ...).

    Returns nothing. Cannot stop training.
    """

