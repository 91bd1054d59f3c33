"""Tests for the nan_guard plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.cli import main
from framework.errors import PluginError, TrainingFailed
from framework.hooks.manager import load_plugins
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train

pytestmark = pytest.mark.filterwarnings("ignore:.*received `from_logits=True`")  # on purpose: logits keep the NaN


@pytest.fixture
def diverging(tmp_path):
    """Overrides: a .npz dataset whose third sample is huge (finite, so the data check passes), a linear
    model that overflows on it, and a logits loss that lets the NaN through (Keras clips probabilities).
    """
    x = np.random.default_rng(0).random((64, 8, 8)).astype(np.float32)
    x[2] = 3e38
    y = np.arange(64) % 3
    np.savez(tmp_path / "nan.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    return [
        "dataset.name=npz",
        f"dataset.args={{path: {tmp_path / 'nan.npz'}}}",
        "model={name: mlp, args: {units: [4], activation: linear}}",
        "loss={name: sparse_categorical_crossentropy, args: {from_logits: true}}",
    ]


def test_stops_naming_epoch_and_batch(tiny_recipe, diverging, capsys):
    """The run fails at the first NaN loss, naming the epoch and batch; the CLI exits 1 without traceback."""
    overrides = [*diverging, "training.shuffle=false"]
    file = tiny_recipe("plugins: [nan_guard]\n")
    with pytest.raises(
        PluginError, match=r"plugin 'nan_guard' failed in on_batch_end: TrainingFailed: loss is nan at epoch 1, batch 1"
    ):
        train(load_recipe(file, overrides))
    code = main(["train", str(file), *[a for o in overrides for a in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "loss is nan at epoch 1, batch 1" in err


def test_without_the_plugin_the_core_fails_at_the_epoch_end_and_keeps_no_nan(tiny_recipe, diverging, tmp_path):
    """Without nan_guard a diverging run fails at its first epoch's end (exit 1), naming epoch and step; no NaN
    weights are written (model.weights.h5, checkpoints, interrupted weights) and run.json says it failed."""
    file = tiny_recipe("plugins: [checkpoint, evaluation]\n")
    with pytest.raises(
        TrainingFailed, match=r"training diverged in epoch 1 \(step 4\): loss is nan; the weights are not finite"
    ):
        train(load_recipe(file, diverging))
    directory = tmp_path / "runs" / "tiny" / "version_0"
    summary = json.loads((directory / "run.json").read_text())
    assert summary["status"] == "failed" and "training diverged in epoch 1" in summary["error"]
    written = sorted(
        p.name for p in directory.rglob("*") if p.suffix in (".h5", ".keras") and p.parent.name != "inference"
    )
    assert written == []


def test_every_batch_false_is_refused_politely(tiny_recipe):
    """`every_batch: false` is what the core does anyway: a FutureWarning says the plugin checks nothing."""
    with pytest.warns(FutureWarning, match="checks nothing: the core checks the loss and the weights"):
        load_plugins(load_recipe(tiny_recipe("plugins: [{name: nan_guard, args: {every_batch: false}}]\n")))
