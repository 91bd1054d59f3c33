"""Tests for resumable state: killing real runs, torn writes, determinism, failures mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from framework.errors import PluginError, TapelineError, TrainingFailed
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import build_run
from framework.training.run_directory import check_resumable
from framework.training.state import finite_weights, restore_state, save_state

KILLABLE = """\
name: killable
seed: 5
dataset: {name: "data_helpers:streamed", args: {num_train: 256, num_test: 32, shape: [8, 8], num_classes: 4}}
model: {name: fast_cnn, args: {filters: [4], units: 8, dropout: 0.3}}
training: {epochs: 2, batch_size: 16, deterministic: true, checkpoint_every: 3}
plugins:
  - plugin_helpers:KillAt
  - {name: early_stopping, args: {monitor: loss, patience: 4}}
  - {name: lr_schedule, args: {schedule: cosine}}
  - {name: metrics_log, args: {every_n_batches: 1}}
"""
# Where each kill leaves the saved state (epochs done, steps done): epoch 1 has 16 batches, the state is saved every 3
# steps of the run (after steps 2, 5, 8, 11 and 14 of epoch 1) and at epoch ends; a kill at a batch comes before its
# save.
# The last kill comes inside the next state write (after step 14), which is left unfinished.
KILL_POINTS = {"1:1": (1, 0), "1:4": (1, 2), "1:8": (1, 8), "1:11": (1, 11), "save:1": (1, 11)}


def tapeline(*args: str) -> list[str]:
    return [sys.executable, "-m", "framework", *args]


def progress(run_dir: Path) -> tuple[int, int]:
    saved = json.loads((run_dir / "state" / "progress.json").read_text())
    return saved["epochs_done"], saved["steps_done"]


def final_weights(run_dir: Path) -> list[np.ndarray]:
    arrays = []
    with h5py.File(run_dir / "model.weights.h5") as file:
        file.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
def test_sigkilled_runs_resume_mid_epoch_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """A deterministic run on a streamed dataset, SIGKILLed at points spread over an epoch (the last inside a state
    write)
    and resumed after each kill, ends bit-identical (weights, history, per-batch metrics) to the uninterrupted run."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    recipe = tmp_path / "killable.yaml"
    recipe.write_text(KILLABLE)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    subprocess.run(tapeline("train", str(recipe), "--output", str(whole)), check=True, capture_output=True, timeout=300)
    for index, point in enumerate(KILL_POINTS):
        command = (
            tapeline("train", "--resume", str(cut)) if index else tapeline("train", str(recipe), "--output", str(cut))
        )
        killed = subprocess.run(
            command, env={**os.environ, "KILL_AT": point}, capture_output=True, text=True, timeout=300
        )
        assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.stderr[-2000:]}"
        assert progress(cut) == KILL_POINTS[point], point
    assert any(cut.glob(".state.*"))  # the write cut short is left behind; the state before it is used
    resumed = subprocess.run(tapeline("train", "--resume", str(cut)), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in (
        "history.json",
        "batch_metrics.jsonl",
    ):  # the running metrics of every batch too, with real batch indices
        assert (cut / name).read_text() == (whole / name).read_text(), name
    for got, want in zip(final_weights(cut), final_weights(whole), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_run_failing_inside_an_epoch_resumes_from_there_on_arrays(tiny_recipe, tmp_path):
    """In-memory arrays: a run failing after batch 3 of epoch 2 resumes at its step-2 state to the uninterrupted
    result."""

    def run_with(marker: Path) -> Path:
        crash = f"{{name: 'plugin_helpers:CrashAtBatch', args: {{epoch: 1, batch: 3, marker: '{marker}'}}}}"
        return tiny_recipe(f"plugins: [{crash}]\n")

    settings = ["training.deterministic=true", "training.checkpoint_every=2"]
    (tmp_path / "crashed").touch()
    whole = train(load_recipe(run_with(tmp_path / "crashed"), settings))
    with pytest.raises(PluginError, match="crash after batch 3 of epoch 1"):
        train(load_recipe(run_with(tmp_path / "once"), settings), tmp_path / "cut")
    assert progress(tmp_path / "cut") == (1, 2)
    resumed = train(load_recipe(tmp_path / "cut" / "recipe.yaml"), tmp_path / "cut", resume=True)
    assert resumed.history == whole.history
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_torn_state_write_falls_back_to_the_previous_state(tiny_recipe, monkeypatch):
    """A crash between the renames of a state write leaves the previous state, which resume uses."""
    run = train(
        load_recipe(tiny_recipe("plugins: [{name: checkpoint, args: {monitor: null}}]\n"), ["training.epochs=1"])
    )
    real_rename = Path.rename

    def crash_on_second_rename(self, target):
        if self.name.startswith(".state."):
            raise OSError("killed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_second_rename)
    with pytest.raises(OSError, match="killed"):
        save_state(run.directory, run.trainer, run.progress.state_dict(2) | {"plugins": {}})
    monkeypatch.undo()
    assert not (run.directory / "state").exists() and (run.directory / "state.old").is_dir()
    fresh = build_run(run.recipe)
    fresh.check_first_step()  # as `start` does: the compiled metrics, saved with the state, are built by a step
    assert restore_state(fresh.trainer, run.directory)["epochs_done"] == 1
    save_state(
        run.directory, run.trainer, run.progress.state_dict(2) | {"plugins": {}}
    )  # the next save keeps state.old until the new state is in place
    assert sorted(p.name for p in run.directory.iterdir() if "state" in p.name) == ["state"]
    assert restore_state(fresh.trainer, run.directory)["epochs_done"] == 2


def test_disk_full_stops_with_a_message_and_keeps_the_last_checkpoint(tiny_recipe, monkeypatch):
    """A failed checkpoint write names the file; the previous checkpoint stays loadable."""
    real_save = keras.Model.save
    calls = []

    def save_once(self, path, *args, **kwargs):
        calls.append(path)
        if len([c for c in calls if "checkpoint" in str(c) or "last" in str(c)]) > 1:
            raise OSError(28, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_once)
    file = tiny_recipe("plugins: [{name: checkpoint, args: {monitor: null}}]\n")
    with pytest.raises(
        PluginError,
        match=r"plugin 'checkpoint' failed in on_epoch_end: TrainingFailed: cannot write '.*last.keras': No space "
        r"left on device",
    ) as caught:
        train(load_recipe(file))
    assert caught.value.exit_code == 1 and not caught.value.show_traceback
    monkeypatch.undo()
    run_dir = file.parent / "runs" / "tiny" / "version_0"
    assert len(keras.models.load_model(run_dir / "checkpoints" / "last.keras").get_weights()) == 8
    assert (run_dir / "interrupted.weights.h5").is_file()


def test_diverged_weights_are_not_salvaged(tiny_recipe, monkeypatch):
    """After a failure, weights are kept as interrupted.weights.h5 only when they are finite."""
    file = tiny_recipe()
    monkeypatch.setattr(keras.Model, "get_weights", lambda self: [np.array([np.nan])])
    with pytest.raises(TrainingFailed, match="training diverged in epoch 1 .*the weights are not finite"):
        train(load_recipe(file))
    assert not (file.parent / "runs" / "tiny" / "version_0" / "interrupted.weights.h5").exists()


def test_a_run_without_the_checkpoint_plugin_resumes(tiny_recipe):
    """Every run saves its resumable state: a recipe without plugins resumes where it stopped."""
    file = tiny_recipe()
    done = train(load_recipe(file, ["training.epochs=1"]))
    assert (done.directory / "state" / "progress.json").is_file()
    resumed = train(load_recipe(file, ["training.epochs=2"]), done.directory, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def test_a_mixed_float16_run_resumes_to_the_uninterrupted_run(tiny_recipe):
    """Keras's loss-scale optimizer is built once (a second build adds another step counter and scale), so a
    mixed_float16 run resumes, its loss scale included, to the uninterrupted run's weights."""
    file = tiny_recipe()
    whole = train(load_recipe(file, ["training.precision=mixed_float16"]))
    done = train(load_recipe(file, ["training.precision=mixed_float16", "training.epochs=1"]))
    resumed = train(load_recipe(file, ["training.precision=mixed_float16"]), done.directory, resume=True)
    counters = [v for v in resumed.trainer.optimizer.variables if v.name == "step_counter"]
    assert len(counters) == 1 and resumed.history == whole.history
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_what_keras_callbacks_change_is_recorded_and_resumed(tiny_recipe):
    """ReduceLROnPlateau's learning_rate enters the history, and the rate it reduced last is the one a resume starts
    from."""
    plateau = (
        "{name: 'keras.callbacks:ReduceLROnPlateau', args: {monitor: loss, factor: 0.5, patience: 0, min_delta: 100}}"
    )
    file = tiny_recipe(f"optimizer: {{name: adam, args: {{learning_rate: 0.01}}}}\nplugins: [{plateau}]\n")
    done = train(load_recipe(file, ["training.epochs=3"]))
    assert [round(row["learning_rate"], 6) for row in done.history] == [0.01, 0.01, 0.005]  # the rate each epoch ran at
    with pytest.warns(UserWarning, match="Keras callbacks start afresh on --resume"):
        resumed = build_and_restore(load_recipe(file, ["training.epochs=4"]), done.directory)
    assert float(resumed.trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.0025)  # reduced after epoch 3


def test_checkpoint_every_never_saves_diverged_weights(tiny_recipe):
    """Inside an epoch, saves are skipped while the weights are not finite, so the last state stays resumable until
    the core stops the run at the epoch end; the weights are checked, whatever the CPU made of the loss."""
    file = tiny_recipe("plugins: [{name: 'plugin_helpers:PoisonAtBatch', args: {batch: 2}}]\n")
    with pytest.warns(UserWarning, match=r"weights are not finite at epoch 1, step 3: the last saved state is kept"):
        with pytest.raises(
            TrainingFailed, match=r"training diverged in epoch 1 \(step 6\): .*the weights are not finite"
        ):
            train(load_recipe(file, ["training.checkpoint_every=1", "training.epochs=1"]))
    directory = file.parent / "runs" / "tiny" / "version_0"
    progress = json.loads((directory / "state" / "progress.json").read_text())
    assert (progress["epochs_done"], progress["steps_done"]) == (0, 2)
    resumed = build_and_restore(load_recipe(file, ["training.checkpoint_every=1", "training.epochs=1"]), directory)
    assert finite_weights(resumed.trainer)


def build_and_restore(recipe, directory):
    from framework.training.lifecycle import start

    return start(recipe, directory, overwrite=False, resume=True)


@pytest.mark.parametrize(
    ("every", "saves"),
    [(3, [(0, 4), (1, 0), (1, 4), (2, 0)]), ("0.00001 minutes", [(0, 2), (0, 4), (1, 0), (1, 2), (1, 4), (2, 0)])],
)
def test_checkpoint_every_saves_inside_epochs_between_compiled_calls(tiny_recipe, monkeypatch, every, saves):
    """`training.checkpoint_every` saves between compiled calls, at the first boundary at or past each mark (6 steps per
    epoch, calls of 2)."""
    import framework.training.callbacks
    import framework.training.state

    written = []
    real_save = framework.training.state.save_state
    monkeypatch.setattr(
        framework.training.callbacks,
        "save_state",
        lambda directory, trainer, progress: (
            written.append((progress["epochs_done"], progress["steps_done"])) or real_save(directory, trainer, progress)
        ),
    )
    run = train(load_recipe(tiny_recipe(), [f"training.checkpoint_every={every!r}", "training.steps_per_execution=2"]))
    assert written == saves

    save_state(
        run.directory, run.trainer, run.progress.state_dict(1, 4) | {"plugins": {}}
    )  # as if killed inside epoch 2
    with pytest.raises(
        TapelineError, match=r"training.epochs=1: it has done 1 epochs and 4 steps of epoch 2; ask for 2 or more"
    ):
        check_resumable(load_recipe(run.directory / "recipe.yaml", ["training.epochs=1"]), run.directory)
