"""Tests for preemption: SIGTERM inside an epoch saves the state at the next step, and --resume is exact."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from framework.cli import main
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.preemption import EXIT_PREEMPTED, Preempted, PreemptionWatch
from framework.training.state import read_progress

SETTINGS = ["training.epochs=3", "training.deterministic=true"]
PLUGINS = "plugins: [evaluation, plugin_helpers:TerminateAt]\n"


def test_sigterm_saves_the_step_and_resume_is_bit_identical(tiny_recipe, tmp_path, monkeypatch):
    """SIGTERM after batch 2 of epoch 2 (no checkpoint_every) saves at step 3, run.json says preempted, and --resume
    ends with the uninterrupted run's weights and history, bit for bit; a second SIGTERM during the save changes
    nothing."""
    file = tiny_recipe(PLUGINS)
    monkeypatch.delenv("TERM_AT", raising=False)
    whole = train(load_recipe(file, SETTINGS))
    monkeypatch.setenv("TERM_AT", "1:2")
    monkeypatch.setenv("TERM_TWICE", "1")
    with pytest.raises(Preempted, match=r"preempted by SIGTERM in epoch 2 after 3 step\(s\) of it"):
        train(load_recipe(file, SETTINGS), tmp_path / "cut")
    progress = read_progress(tmp_path / "cut")
    assert (progress["epochs_done"], progress["steps_done"]) == (1, 3)
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "preempted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    monkeypatch.delenv("TERM_AT")
    resumed = train(load_recipe(tmp_path / "cut" / "recipe.yaml"), tmp_path / "cut", resume=True)
    assert resumed.history == whole.history
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_command_exits_143_saying_how_to_resume(tiny_recipe, tmp_path, monkeypatch, capsys):
    """`tapeline train` preempted exits 143 with the error and the --resume command; the runs table says preempted."""
    monkeypatch.setenv("TERM_AT", "0:1")
    run = tmp_path / "run"
    assert main(["train", str(tiny_recipe(PLUGINS)), "--output", str(run)]) == EXIT_PREEMPTED == 143
    err = capsys.readouterr().err
    assert "tapeline: error: preempted by SIGTERM in epoch 1 after 2 step(s) of it" in err
    assert f"after 0 epoch(s) and 2 step(s) of epoch 1 is in '{run / 'state'}'; `tapeline train --resume {run}`" in err
    assert main(["runs", str(tmp_path)]) == 0 and " preempted " in capsys.readouterr().out


def test_the_watch_only_takes_sigterm_while_active():
    """Inside the block SIGTERM sets `requested`; outside, and when disabled, the previous handler stays."""
    with PreemptionWatch() as watch:
        signal.raise_signal(signal.SIGTERM)
        assert watch.requested
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with PreemptionWatch(enabled=False) as watch:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and not watch.requested


AUGMENT = (
    "dataset.augment=[{name: RandomFlip, args: {mode: horizontal}}, "
    "{name: RandomTranslation, args: {height_factor: 0.2, width_factor: 0.2}}]"
)


def test_sigterm_with_random_augmentation_resumes_bit_identical(tiny_recipe, tmp_path, monkeypatch):
    """With RandomFlip and RandomTranslation in `dataset.augment`, SIGTERM after batch 2 of epoch 2 (no
    checkpoint_every) and --resume end with the uninterrupted run's weights and history, bit for bit: the draws
    depend on (seed, epoch, batch) only."""
    file = tiny_recipe(PLUGINS)
    settings = [*SETTINGS, AUGMENT]
    monkeypatch.delenv("TERM_AT", raising=False)
    whole = train(load_recipe(file, settings))
    monkeypatch.setenv("TERM_AT", "1:2")
    with pytest.raises(Preempted):
        train(load_recipe(file, settings), tmp_path / "cut")
    monkeypatch.delenv("TERM_AT")
    resumed = train(load_recipe(tmp_path / "cut" / "recipe.yaml"), tmp_path / "cut", resume=True)
    assert resumed.history == whole.history
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_augmentation_draws_differ_between_batches_and_epochs(tiny_recipe):
    """Reseeded per batch, the augmentation still draws anew for every batch and epoch."""
    from framework.training.run import build_run

    data = build_run(load_recipe(tiny_recipe(), [AUGMENT, "training.shuffle=false"])).data
    first, second = (next(iter(data.train))[0].numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)  # the same batch 0 of the same epoch
    data.epoch.assign(1)
    again = next(iter(data.train))[0].numpy()
    assert not np.array_equal(first, again)
    batches = [x.numpy() for x, *_ in data.train.take(2)]
    assert not np.array_equal(batches[0][: len(batches[1])], batches[1])
