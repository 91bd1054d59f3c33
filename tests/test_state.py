"""Tests for resumable state: killing real runs, torn writes, determinism, failures mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from framework.errors import PluginError
from framework.recipe import load_recipe
from framework.run import build_run, train
from framework.state import restore_state, save_state

KILLABLE = """\
name: killable
seed: 5
dataset: {name: DATASET, args: {num_train: 2048, num_test: 64, shape: [12, 12], num_classes: 4}}
model: {name: seed_cnn, args: {filters: [4, 8], units: 16}}
training: {epochs: 6, batch_size: 32, deterministic: true}
plugins:
  - {name: checkpoint, args: {monitor: loss}}
  - {name: early_stopping, args: {monitor: loss, patience: 4}}
  - {name: lr_schedule, args: {schedule: cosine}}
"""


def tapeline(*args: str) -> list[str]:
    return [sys.executable, "-m", "framework", *args]


def epochs_done(run_dir: Path) -> int:
    progress = run_dir / "state" / "progress.json"
    try:
        return json.loads(progress.read_text())["epochs_done"]
    except (OSError, ValueError):
        return 0


def weights(run_dir: Path) -> list[np.ndarray]:
    return keras.models.load_model(run_dir / "checkpoints" / "last.keras").get_weights()


@pytest.mark.parametrize("dataset", ["synthetic", "data_helpers:streamed"], ids=["arrays", "streamed"])
def test_sigkilled_run_resumes_to_the_same_result_and_runs_repeat(tmp_path, dataset, monkeypatch):
    """A run killed with SIGKILL mid-training and resumed ends bit-identical to uninterrupted deterministic runs,
    on in-memory arrays and on a streamed DataModule (shuffled through a buffer by seed and epoch)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    recipe = tmp_path / "killable.yaml"
    recipe.write_text(KILLABLE.replace("DATASET", dataset))
    for name in ("whole", "again") if dataset == "synthetic" else ("whole",):  # runs repeating is checked once
        subprocess.run(tapeline("train", str(recipe), "--output", str(tmp_path / name)), check=True, capture_output=True, timeout=300)

    cut = tmp_path / "cut"
    process = subprocess.Popen(tapeline("train", str(recipe), "--output", str(cut)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while epochs_done(cut) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL and 2 <= epochs_done(cut) < 6, "the run was not killed mid-training"

    resumed = subprocess.run(tapeline("train", "--resume", str(cut)), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    if dataset == "synthetic":
        assert json.loads((tmp_path / "again" / "history.json").read_text()) == whole  # deterministic runs repeat exactly
    assert json.loads((cut / "history.json").read_text()) == whole
    for got, want in zip(weights(cut), weights(tmp_path / "whole")):
        np.testing.assert_array_equal(got, want)


def test_torn_state_write_falls_back_to_the_previous_state(tiny_recipe, monkeypatch):
    """A crash between the renames of a state write leaves the previous state, which resume uses."""
    run = train(load_recipe(tiny_recipe("plugins: [{name: checkpoint, args: {monitor: null}}]\n"), ["training.epochs=1"]))
    real_rename = Path.rename

    def crash_on_second_rename(self, target):
        if self.name.startswith(".state."):
            raise OSError("killed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_second_rename)
    with pytest.raises(OSError, match="killed"):
        save_state(run, 2)
    monkeypatch.undo()
    assert not (run.directory / "state").exists() and (run.directory / "state.old").is_dir()
    fresh = build_run(run.recipe)
    assert restore_state(fresh.trainer, run.directory)["epochs_done"] == 1
    save_state(run, 2)  # the next save keeps state.old until the new state is in place
    assert sorted(p.name for p in run.directory.iterdir() if "state" in p.name) == ["state"]
    assert restore_state(fresh.trainer, run.directory)["epochs_done"] == 2


def test_disk_full_stops_with_a_message_and_keeps_the_last_checkpoint(tiny_recipe, monkeypatch):
    """A failed checkpoint write names the file; the previous checkpoint stays loadable."""
    real_save = keras.Model.save
    calls = []

    def save_once(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_once)
    file = tiny_recipe("plugins: [{name: checkpoint, args: {monitor: null}}]\n")
    with pytest.raises(PluginError, match=r"plugin 'checkpoint' failed in on_epoch_end: TrainingFailed: cannot write '.*last.keras': No space left on device") as caught:
        train(load_recipe(file))
    assert caught.value.exit_code == 1 and not caught.value.show_traceback
    monkeypatch.undo()
    run_dir = file.parent / "runs" / "tiny" / "version_0"
    assert len(keras.models.load_model(run_dir / "checkpoints" / "last.keras").get_weights()) == 8
    assert (run_dir / "interrupted.weights.h5").is_file()


def test_diverged_weights_are_not_salvaged(tiny_recipe, monkeypatch):
    """After a failure, weights are kept as interrupted.weights.h5 only when they are finite."""
    file = tiny_recipe("plugins: [{name: 'plugin_helpers:Raiser', args: {epoch: 0}}]\n")
    monkeypatch.setattr(keras.Model, "get_weights", lambda self: [np.array([np.nan])])
    with pytest.raises(PluginError, match="boom at epoch 0"):
        train(load_recipe(file))
    assert not (file.parent / "runs" / "tiny" / "version_0" / "interrupted.weights.h5").exists()


def test_a_run_without_the_checkpoint_plugin_resumes(tiny_recipe):
    """Every run saves its resumable state: a recipe without plugins resumes where it stopped."""
    file = tiny_recipe()
    done = train(load_recipe(file, ["training.epochs=1"]))
    assert (done.directory / "state" / "progress.json").is_file()
    resumed = train(load_recipe(file, ["training.epochs=2"]), done.directory, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_what_keras_callbacks_change_is_recorded_and_resumed(tiny_recipe):
    """ReduceLROnPlateau's learning_rate enters the history, and the rate it reduced last is the one a resume starts from."""
    plateau = "{name: 'keras.callbacks:ReduceLROnPlateau', args: {monitor: loss, factor: 0.5, patience: 0, min_delta: 100}}"
    file = tiny_recipe(f"optimizer: {{name: adam, args: {{learning_rate: 0.01}}}}\nplugins: [{plateau}]\n")
    done = train(load_recipe(file, ["training.epochs=3"]))
    assert [round(row["learning_rate"], 6) for row in done.history] == [0.01, 0.01, 0.005]  # the rate each epoch ran at
    with pytest.warns(UserWarning, match="Keras callbacks start afresh on --resume"):
        resumed = build_and_restore(load_recipe(file, ["training.epochs=4"]), done.directory)
    assert float(resumed.trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.0025)  # reduced after epoch 3


def build_and_restore(recipe, directory):
    from framework.run import start

    return start(recipe, directory, overwrite=False, resume=True)
