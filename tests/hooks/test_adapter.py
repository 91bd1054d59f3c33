"""Tests for the Keras callback that calls plugin hooks, and for the hook specs themselves."""

from __future__ import annotations

import inspect

import keras
import pytest

from framework import hookimpl
from framework.errors import PluginError, TapelineError
from framework.hooks import specs as hookspecs
from framework.hooks.adapter import BatchHookCallback, HookCallback, Hooks
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import build_run


class Recorder:
    """Records every hook call with its keyword arguments."""

    name = "recorder"

    def __init__(self, stop_at: int = -1, add: str = "") -> None:
        self.stop_at, self.add = stop_at, add
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def on_train_begin(self, trainer, run):
        self.calls.append(("on_train_begin", {}))

    @hookimpl
    def on_epoch_begin(self, epoch):
        self.calls.append(("on_epoch_begin", {"epoch": epoch}))

    @hookimpl
    def on_epoch_end(self, epoch, logs):
        self.calls.append(("on_epoch_end", {"epoch": epoch, "logs": dict(logs)}))
        if self.add:
            logs[self.add] = float(epoch)
        return f"asked at epoch {epoch}" if epoch == self.stop_at else None

    @hookimpl
    def on_evaluate_end(self, split, logs):
        self.calls.append(("on_evaluate_end", {"split": split}))

    @hookimpl
    def on_train_end(self, run, logs):
        self.calls.append(("on_train_end", {"stop_reason": run.stop_reason}))


class BatchCounter:
    """Counts batches; stops in the second batch of epoch 1."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    @hookimpl
    def on_batch_end(self, epoch, batch, logs):
        self.seen.append((epoch, batch))
        assert isinstance(logs["loss"], float)
        return "enough batches" if (epoch, batch) == (1, 1) else None


RECORDER = "test_adapter:Recorder"  # plugins by import path, as third-party code names them
BATCHES = "test_adapter:BatchCounter"


def plugin(run, name):
    return run.plugins.get_plugin(name)


def test_hooks_fire_in_order_with_keyword_arguments(tiny_recipe):
    """A run calls begin/epoch/evaluation/end hooks in Keras's order, 0-based epochs."""
    recipe = load_recipe(tiny_recipe(f'plugins: ["{RECORDER}"]\n'), ["dataset.validation_split=0.25"])
    run = train(recipe)
    names = [name for name, _ in plugin(run, RECORDER).calls]
    assert names == [
        "on_train_begin",
        "on_epoch_begin",
        "on_evaluate_end",
        "on_epoch_end",
        "on_epoch_begin",
        "on_evaluate_end",
        "on_epoch_end",
        "on_train_end",
    ]
    calls = plugin(run, RECORDER).calls
    assert calls[2][1] == {"split": "validation"} and calls[3][1]["epoch"] == 0
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(calls[3][1]["logs"])


def test_plugin_stops_training_and_adds_logs_seen_later(tiny_recipe):
    """A returned reason stops training; entries added to the logs reach plugins called later (recipe order) and the
    history."""
    recipe = load_recipe(
        tiny_recipe(f"plugins:\n  - {{name: '{RECORDER}', args: {{stop_at: 0, add: extra}}}}\n  - '{RECORDER}'\n"),
        ["training.epochs=4"],
    )
    run = train(recipe)
    first, later = plugin(run, RECORDER), plugin(run, f"{RECORDER}#1")
    assert "extra" in later.calls[2][1]["logs"] and "extra" not in first.calls[2][1]["logs"]
    assert run.stop_reason == "asked at epoch 0" and len(run.history) == 1
    assert run.history[0]["extra"] == 0.0
    assert later.calls[-1] == ("on_train_end", {"stop_reason": "asked at epoch 0"})


def test_no_batch_work_without_batch_hooks(tiny_recipe, monkeypatch):
    """Without an on_batch_end plugin, the callback keeps Keras's no-op batch method and no batch hook is called."""
    run = build_run(load_recipe(tiny_recipe(f'plugins: ["{RECORDER}"]\n')))
    callback = run.hooks.callback()
    assert type(callback) is HookCallback
    assert type(callback).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end  # Keras skips it
    called = []
    real_call = Hooks.call
    monkeypatch.setattr(Hooks, "call", lambda self, hook, **kw: called.append(hook) or real_call(self, hook, **kw))
    train(load_recipe(tiny_recipe(f'plugins: ["{RECORDER}"]\n')))
    assert "on_batch_end" not in called and called.count("on_epoch_end") == 2


def test_batch_hook_sees_every_batch_and_can_stop(tiny_recipe):
    """on_batch_end gets every batch with float logs, and its reason stops training mid-epoch."""
    run = train(load_recipe(tiny_recipe(f'plugins: ["{BATCHES}"]\n'), ["training.epochs=3"]))
    assert isinstance(run.hooks.callback(), BatchHookCallback)
    assert plugin(run, BATCHES).seen == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 0), (1, 1)]
    assert run.stop_reason == "enough batches"


def test_batch_indices_are_real_with_several_steps_per_call(tiny_recipe):
    """With 4 steps per call over 6 batches, on_batch_end sees batches 3 and 5 (Keras itself says 7)."""
    run = train(
        load_recipe(tiny_recipe(f'plugins: ["{BATCHES}"]\n'), ["training.epochs=1", "training.steps_per_execution=4"])
    )
    assert plugin(run, BATCHES).seen == [(0, 3), (0, 5)]


def test_a_keras_callback_stopping_training_is_the_stop_reason(tiny_recipe):
    """keras.callbacks.EarlyStopping stopping the run leaves a stop reason that says so."""
    stopper = "{name: 'keras.callbacks:EarlyStopping', args: {monitor: loss, patience: 0, min_delta: 100}}"
    run = train(load_recipe(tiny_recipe(f"plugins: [{stopper}]\n"), ["training.epochs=4"]))
    assert len(run.history) == 2 and run.stop_reason == "a Keras callback stopped training"


def test_hook_specs_are_documented():
    """Every hook spec starts "Called when", takes `trainer` first and documents each argument."""
    specs = [f for name, f in vars(hookspecs).items() if name.startswith("on_") and inspect.isfunction(f)]
    assert len(specs) == 7
    for spec in specs:
        doc = inspect.getdoc(spec)
        params = list(inspect.signature(spec).parameters)
        assert doc.startswith("Called when"), spec.__name__
        assert params[0] == "trainer", spec.__name__
        assert all(f"{p}:" in doc for p in params), spec.__name__
        assert "Returns" in doc and ("stop" in doc or "over" in doc), spec.__name__


def test_keras_model_checkpoint_from_a_recipe_saves_the_network(tiny_recipe, tmp_path):
    """keras.callbacks.ModelCheckpoint writes the network: .keras files load in Keras, weights files in `evaluate`."""
    from framework.tools.evaluate import evaluate_weights

    files = tmp_path / "files"
    checkpoint = "{name: 'keras.callbacks:ModelCheckpoint', args: {filepath: '%s'%s}}"
    recipe = load_recipe(
        tiny_recipe(
            f"plugins: [{checkpoint % (files / 'm-{epoch}.keras', '')}, "
            f"{checkpoint % (files / 'w-{epoch}.weights.h5', ', save_weights_only: true')}]\n"
        )
    )
    run = train(recipe)
    assert keras.saving.load_model(files / "m-2.keras").count_params() == run.trainer.network.count_params()
    assert evaluate_weights(recipe, files / "w-2.weights.h5") == pytest.approx(evaluate_weights(recipe, run.directory))


def test_keras_backup_and_restore_continues_a_crashed_run(tiny_recipe, tmp_path):
    """keras.callbacks.BackupAndRestore works as in Keras: a rerun after a crash starts at the backed-up epoch, with a
    warning."""
    backup = "{name: 'keras.callbacks:BackupAndRestore', args: {backup_dir: '%s'}}" % (tmp_path / "backup")
    crashing = load_recipe(
        tiny_recipe(f"plugins: [{{name: 'plugin_helpers:Raiser', args: {{epoch: 1}}}}, {backup}]\n"),
        ["training.epochs=3"],
    )
    with pytest.warns(
        UserWarning,
        match="BackupAndRestore restores the network's weights and the epoch count, but not the optimizer's state",
    ):
        with pytest.raises(TapelineError, match="boom at epoch 1"):
            train(crashing)
    with pytest.warns(UserWarning, match="BackupAndRestore"):
        rerun = train(load_recipe(tiny_recipe(f"plugins: [{backup}]\n"), ["training.epochs=3"]))
    assert [row["epoch"] for row in rerun.history] == [2, 3]


class RaisingKerasCallback(keras.callbacks.Callback):
    """A Keras callback with a bug at the end of the first epoch."""

    def on_epoch_end(self, epoch, logs=None):
        return logs["acc"]  # the key is 'accuracy'


def test_a_failing_keras_callback_is_named_like_a_plugin(tiny_recipe):
    """An exception in a recipe's Keras callback becomes `plugin '<module>:<Class>' failed in on_epoch_end:
    KeyError`."""
    with pytest.raises(
        PluginError, match=r"plugin 'test_adapter:RaisingKerasCallback' failed in on_epoch_end: KeyError: 'acc'"
    ):
        train(load_recipe(tiny_recipe("plugins: [test_adapter:RaisingKerasCallback]\n")))
