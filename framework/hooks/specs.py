"""Every hook a Tapeline plugin can implement, grouped by phase, and the state protocol for ``--resume``.

Hooks are called with keyword arguments only, ``trainer`` first. A plugin implements a hook
by defining a method of the same name decorated with `framework.hookimpl`; it may accept any
subset of the arguments listed here. ``run`` is a read-only `framework.hooks.context.RunContext`.
Plugins are called in recipe order, except that a plugin is called after the plugins named in
its class attribute ``after`` (``after = ("evaluation",)``); ``@hookimpl(tryfirst=True)`` or
``trylast=True`` moves one hook of a plugin before or after all others. Epochs and batches
count from 0, as in Keras.

The lifecycle of a run: ``on_train_begin``; per epoch ``on_epoch_begin``, ``on_batch_end``
(only if implemented), ``on_evaluate_end`` (validation), ``on_epoch_end``; then the core saves
``model.weights.h5``, the history and ``run.json`` and calls ``on_train_end``. If anything fails
(an exception in training, a hook, a Keras callback, or Ctrl-C), the core saves what it can and
calls ``on_exception`` instead.

Every hook is fired from one module, `framework.hooks.adapter`: the training, epoch, batch and
evaluation hooks by its Keras callback (`HookCallback`), in the Python training loop between
compiled steps, never inside them; ``on_train_end``, ``on_exception`` and the ``on_evaluate_end``
of ``run.predict`` by its `Hooks` object, which the run's lifecycle calls. If no plugin
implements `on_batch_end`, the callback has no batch method at all: no hook call and no
waiting for the step's results. The built-in implementations are in the ``plugins`` package.

This module imports nothing from the training loop, so the plugin contract does not depend on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

if TYPE_CHECKING:
    import keras

    from framework.hooks.context import RunContext


hookspec = pluggy.HookspecMarker("tapeline")
hookimpl = pluggy.HookimplMarker("tapeline")


@runtime_checkable
class StatefulPlugin(Protocol):
    """A plugin whose state survives ``tapeline train --resume`` (early stopping's counter, a schedule's rate ...).

    The core saves ``state_dict()`` of every plugin that has both methods with the network and
    optimizer: at each epoch end, after all hooks and Keras callbacks ran, and inside epochs
    every `training.checkpoint_every` (after ``on_batch_end``); on ``--resume`` it calls
    ``load_state_dict`` with the saved state before ``on_train_begin``.
    """

    def state_dict(self) -> dict[str, Any]:
        """The plugin's state as a JSON-serializable dict (numbers, strings, lists, dicts, None)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what `state_dict` returned, on ``--resume``, before ``on_train_begin``."""
        ...


@hookspec
def on_train_begin(trainer: keras.Model, run: RunContext) -> None:
    """Called when training starts, after the model is compiled (and a resumed run's state is
    loaded, see `StatefulPlugin`) and before the first epoch.

    Args:
        trainer: the compiled `Trainer`.
        run: the `RunContext`: recipe, directory, data, history so far (the earlier epochs of a
            resumed run), worker role.

    Returns nothing. Cannot stop training (raise to abort the run; ``on_exception`` follows).
    """


@hookspec
def on_train_end(trainer: keras.Model, run: RunContext, logs: dict[str, float]) -> None:
    """Called when training is over, normally or because it was stopped early, after the core
    wrote ``model.weights.h5``, the history and ``run.json``.

    Args:
        trainer: the `Trainer`, holding the final (saved) weights.
        run: the `RunContext`; ``run.stop_reason`` says why training stopped early, if it did.
        logs: the last epoch's logs, with the entries plugins added (empty if no epoch ran).

    Returns nothing. Training is already over. An exception here fails the run (exit 1,
    naming the plugin and hook); the files written before stay, and ``on_exception`` follows.
    """


@hookspec
def on_exception(trainer: keras.Model, run: RunContext, error: BaseException) -> None:
    """Called when the run fails, once: an exception in training, in a hook (``on_train_end``
    included) or a Keras callback, Ctrl-C, or SIGTERM (after the state at that step was saved);
    after the core wrote the history so far, ``run.json`` (``"status"`` ``failed``,
    ``interrupted`` or ``preempted``, and the error) and the weights at that moment
    (``interrupted.weights.h5``, when finite and not saved already).

    Args:
        trainer: the `Trainer`, holding the weights at the moment of failure.
        run: the `RunContext`; ``run.epoch`` is the epoch that was running, if any.
        error: the exception the run raises next: a `framework.errors.PluginError` naming the
            plugin and hook, a `TrainingFailed`, another `TapelineError` (``Preempted`` on SIGTERM), or
            `KeyboardInterrupt`.

    Returns nothing. Training is already over. An exception raised here is reported on stderr
    and never hides `error`; every implementation is called.
    """


@hookspec
def on_epoch_begin(trainer: keras.Model, run: RunContext, epoch: int) -> None:
    """Called when an epoch starts, before its first batch.

    Args:
        trainer: the `Trainer`.
        run: the `RunContext`.
        epoch: the epoch index, from 0.

    Returns nothing. Cannot stop training by its return value (``run.request_stop(reason)``
    stops it at the end of this epoch).
    """


@hookspec
def on_epoch_end(trainer: keras.Model, run: RunContext, epoch: int, logs: dict[str, float]) -> str | None:
    """Called when an epoch ends, after validation (if any).

    Args:
        trainer: the `Trainer`.
        run: the `RunContext`.
        epoch: the epoch index, from 0.
        logs: the epoch's mean training metrics (``loss``, ``accuracy`` ...) and ``val_*``
            metrics. A plugin may add entries (the one mutation allowed, as in Keras); plugins
            called after it see them, and they are recorded in the run's history.

    Returns a reason (a non-empty string) to stop training after this epoch, or None (same as
    ``run.request_stop(reason)``).
    """


@hookspec
def on_batch_end(trainer: keras.Model, run: RunContext, epoch: int, batch: int, logs: dict[str, float]) -> str | None:
    """Called when a compiled call of training steps ends: after every batch, or with
    ``training.steps_per_execution: N`` after batches N-1, 2N-1, ... and the epoch's last batch.

    Implementing this hook makes every step wait for its results on the host (and makes
    ``training.steps_per_execution: auto`` run one step per call); leave it unimplemented
    unless the plugin needs per-batch values.

    Args:
        trainer: the `Trainer`.
        run: the `RunContext`.
        epoch: the epoch index, from 0.
        batch: the index of the last batch run, from 0 within the epoch (never past its last batch).
        logs: running means of the epoch's metrics so far (``loss``, ``accuracy`` ...).

    Returns a reason (a non-empty string) to stop training after this batch, or None.
    """


@hookspec
def on_evaluate_end(trainer: keras.Model, run: RunContext, split: str, logs: dict[str, float]) -> None:
    """Called when an evaluation pass over a data split ends.

    Args:
        trainer: the `Trainer`.
        run: the `RunContext`.
        split: ``"validation"`` (Keras's validation pass after each epoch) or ``"test"``
            (the evaluation plugin, `tapeline evaluate`, ``run.evaluate()``).
        logs: the split's metrics, without prefix (``loss``, ``accuracy`` ...).

    Returns nothing. Cannot stop training by its return value (``run.request_stop(reason)`` can).
    """
