"""Tests for the checkpoint plugin and resuming runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from framework.cli import main
from framework.errors import NothingToDo, PluginError, TapelineError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train

CHECKPOINT = "plugins:\n  - {name: checkpoint, args: {monitor: loss, keep_last: 2}}\n"


def test_writes_best_last_and_keeps_k(tiny_recipe):
    """last.keras every epoch, best.keras on improvement (a copy of the same file), the last K epoch files, and the
    state."""
    run = train(load_recipe(tiny_recipe(CHECKPOINT), ["training.epochs=3"]))
    folder = run.directory / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.keras",
        "epoch-002.keras",
        "epoch-003.keras",
        "last.keras",
    ]
    last = keras.models.load_model(folder / "last.keras")
    for got, want in zip(last.get_weights(), run.trainer.network.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert run.history[-1]["loss"] < min(
        row["loss"] for row in run.history[:-1]
    )  # so best.keras is the last epoch's network too
    assert (
        (folder / "best.keras").read_bytes()
        == (folder / "epoch-003.keras").read_bytes()
        == (folder / "last.keras").read_bytes()
    )
    progress = json.loads((run.directory / "state" / "progress.json").read_text())
    assert progress["epochs_done"] == 3 and progress["history"] == run.history
    assert progress["plugins"] == {"checkpoint": {"best": run.history[-1]["loss"]}}
    assert not list(run.directory.glob(".*"))  # no temporary files left behind


def test_resume_continues_from_the_right_epoch_and_matches(tiny_recipe):
    """A run resumed after 2 of 4 epochs continues at epoch 3 and ends like an uninterrupted run."""
    file = tiny_recipe(CHECKPOINT + "  - plugin_helpers:WeightsRecorder\n")
    fixed = ["training.shuffle=false"]
    whole = train(load_recipe(file, [*fixed, "training.epochs=4"]))
    first = train(load_recipe(file, [*fixed, "training.epochs=2"]))
    resumed = train(load_recipe(file, [*fixed, "training.epochs=4"]), first.directory, resume=True)
    assert resumed.progress.initial_epoch == 2
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert len(resumed.plugins.get_plugin("plugin_helpers:WeightsRecorder").weights) == 2
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert resumed.history[-1]["loss"] == pytest.approx(whole.history[-1]["loss"], rel=1e-5)


def test_resume_refuses_a_different_recipe_with_a_diff(tiny_recipe):
    """Resuming under a changed recipe shows the difference; only the epochs may change."""
    file = tiny_recipe(CHECKPOINT)
    first = train(load_recipe(file, ["training.epochs=1"]))
    with pytest.raises(TapelineError, match=r"(?s)cannot resume: the recipe differs.*-    units: 8\n\+    units: 9"):
        train(load_recipe(file, ["model.args.units=9"]), first.directory, resume=True)


def test_resume_needs_saved_state(tiny_recipe):
    """A run directory whose state is gone cannot be resumed, and says why."""
    first = train(load_recipe(tiny_recipe(), ["training.epochs=1"]))
    shutil.rmtree(first.directory / "state")
    with pytest.raises(TapelineError, match="has no saved training state to resume from"):
        train(load_recipe(tiny_recipe()), first.directory, resume=True)


def test_cli_resume_uses_the_runs_recipe(tiny_recipe, tmp_path, capsys):
    """`tapeline train --resume RUN_DIR --set training.epochs=N` needs no recipe argument."""
    assert (
        main(["train", str(tiny_recipe(CHECKPOINT)), "--output", str(tmp_path / "run"), "--set", "training.epochs=1"])
        == 0
    )
    assert main(["train", "--resume", str(tmp_path / "run"), "--set", "training.epochs=2"]) == 0
    assert [row["epoch"] for row in json.loads((tmp_path / "run" / "history.json").read_text())] == [1, 2]
    assert "  epochs: 2\n" in (tmp_path / "run" / "recipe.yaml").read_text()  # the saved recipe agrees with the history


def test_failing_plugin_keeps_the_last_checkpoint_valid(tiny_recipe, capsys):
    """A plugin raising in epoch 2 stops the run naming it and the hook; epoch 1's checkpoint loads."""
    file = tiny_recipe(CHECKPOINT + "  - {name: 'plugin_helpers:Raiser', args: {epoch: 1}}\n")
    with pytest.raises(
        PluginError, match="plugin 'plugin_helpers:Raiser' failed in on_epoch_end: RuntimeError: boom at epoch 1"
    ):
        train(load_recipe(file))
    code = main(["train", str(file), "--output", str(file.parent / "cli-run")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and err.rstrip().endswith("RuntimeError: boom at epoch 1")
    run_dir = file.parent / "cli-run"
    assert len(keras.models.load_model(run_dir / "checkpoints" / "last.keras").get_weights()) == 8
    assert [row["epoch"] for row in json.loads((run_dir / "history.json").read_text())] == [1]


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under `directory` with its modification time and, for files, its bytes."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in directory.rglob("*")}


def test_resuming_a_finished_run_does_nothing_and_fewer_epochs_are_refused(tiny_recipe, tmp_path, capsys):
    """--resume of a finished run says there is nothing to do (exit 0); fewer epochs than done exit 2; no file
    changes."""
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_recipe(CHECKPOINT)), "--output", str(run_dir)]) == 0
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert (
        capsys.readouterr().out
        == f"nothing to do: {run_dir} finished all 2 epochs; raise training.epochs above 2 (--set training.epochs=N) "
        "to train more\n"
    )
    assert main(["train", "--resume", str(run_dir), "--set", "training.epochs=1"]) == 2
    assert (
        f"tapeline: error: cannot resume {run_dir} with training.epochs=1: it has done 2 epochs; ask for 2 or more"
        in capsys.readouterr().err
    )
    assert snapshot(run_dir) == before


def test_run_cut_short_after_its_last_epoch_is_completed_by_resume(tiny_recipe):
    """A run killed after its last epoch's state but before run.json is finished by --resume, training no epoch."""
    first = train(load_recipe(tiny_recipe(CHECKPOINT)))
    (first.directory / "run.json").unlink()
    resumed = train(load_recipe(tiny_recipe(CHECKPOINT)), first.directory, resume=True)
    assert resumed.history == first.history and json.loads((first.directory / "run.json").read_text())["epochs"] == 2


def test_early_stopped_run_continues_only_with_more_epochs_and_a_new_patience(tiny_recipe):
    """An early-stopped run is finished until training.epochs is raised; it then gets `patience` epochs again."""
    file = tiny_recipe(
        "plugins:\n  - {name: 'plugin_helpers:Scripted', args: {values: [1, 1, 1, 1, 1, 1]}}\n"
        "  - {name: early_stopping, args: {monitor: score, patience: 2}}\n  - {name: checkpoint, args: {monitor: "
        "null}}\n"
    )
    first = train(load_recipe(file, ["training.epochs=5"]))
    assert len(first.history) == 3 and first.stop_reason
    for epochs in ("5", "4"):
        with pytest.raises(
            NothingToDo,
            match=r"nothing to do: .* stopped early after 3 of 5 epochs \(score did not improve for 2 epoch\(s\); "
            r"best 1.0000 in epoch 1\); raise training.epochs above 5",
        ):
            train(load_recipe(file, [f"training.epochs={epochs}"]), first.directory, resume=True)
    resumed = train(load_recipe(file, ["training.epochs=6"]), first.directory, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4, 5]
    assert resumed.stop_reason.startswith("score did not improve for 2 epoch(s)")


def test_a_continued_run_that_crashes_can_be_resumed_again(tiny_recipe, tmp_path):
    """A finished run given more epochs, killed before saving one, is not 'finished' to the next resume."""
    crash = f"  - {{name: 'plugin_helpers:CrashOnce', args: {{epoch: 2, marker: '{tmp_path / 'crashed'}'}}}}\n"
    file = tiny_recipe(CHECKPOINT + crash)
    done = train(load_recipe(file))
    with pytest.raises(TapelineError, match="crash at epoch 2"):
        train(load_recipe(file, ["training.epochs=4"]), done.directory, resume=True)
    resumed = train(load_recipe(file, ["training.epochs=4"]), done.directory, resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]


def test_validate_finds_a_network_the_checkpoint_plugin_cannot_save(tiny_recipe, capsys):
    """A subclassed network without get_config fails `validate` (exit 2) at the model line, with Keras's whole advice,
    when the checkpoint plugin will save it; without the plugin it trains."""
    from framework.cli import main

    file = tiny_recipe("plugins: [{name: checkpoint, args: {monitor: null}}]\n")
    assert main(["validate", str(file), "--set", "model=model_helpers:head_net"]) == 2
    err = capsys.readouterr().err
    assert (
        "--set model=model_helpers:head_net: `model`: the network cannot be saved as a .keras file, which the " in err
    )
    assert "'checkpoint' plugin does every epoch" in err
    assert "must override `get_config()`" in err and "def get_config(self):" in err
    assert main(["validate", str(tiny_recipe()), "--set", "model=model_helpers:head_net"]) == 0
