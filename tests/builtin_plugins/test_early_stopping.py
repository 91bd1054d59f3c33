"""Tests for the early_stopping plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framework.errors import PluginError, RecipeError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train

PLUGINS = """\
plugins:
  - {{name: "plugin_helpers:Scripted", args: {{values: {values}}}}}
  - {{name: early_stopping, args: {args}}}
  - plugin_helpers:WeightsRecorder
"""


def run_with(tiny_recipe, values, args, epochs=6):
    recipe = load_recipe(tiny_recipe(PLUGINS.format(values=values, args=args)), [f"training.epochs={epochs}"])
    return train(recipe)


def test_stops_at_the_right_epoch_and_restores_best_weights(tiny_recipe):
    """With patience 2, the run stops two epochs after the best one and ends with its weights; run.json says it
    stopped early."""
    run = run_with(
        tiny_recipe, [3.0, 2.0, 2.5, 2.6, 1.0, 0.5], "{monitor: score, patience: 2, restore_best_weights: true}"
    )
    assert len(run.history) == 4
    assert json.loads((run.directory / "run.json").read_text())["status"] == "stopped_early"
    assert run.stop_reason.startswith("score did not improve for 2 epoch(s); best 2.0000 in epoch 2")
    assert run.stop_reason.endswith("restored the weights of epoch 2")
    recorded = run.plugins.get_plugin("plugin_helpers:WeightsRecorder").weights
    for got, want in zip(run.trainer.network.get_weights(), recorded[1]):
        np.testing.assert_array_equal(got, want)


def test_max_mode_min_delta_and_start_epoch(tiny_recipe):
    """In max mode gains below min_delta do not count; epochs before start_from_epoch are ignored."""
    run = run_with(
        tiny_recipe, [0.1, 0.5, 0.505, 0.506, 0.9, 0.9], "{monitor: score, mode: max, patience: 2, min_delta: 0.01}"
    )
    assert len(run.history) == 4 and "best 0.5000 in epoch 2" in run.stop_reason
    run = run_with(tiny_recipe, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "{monitor: score, patience: 1, start_from_epoch: 3}")
    assert len(run.history) == 5


def test_baseline_must_be_beaten(tiny_recipe):
    """With a baseline, never beating it stops after `patience` epochs."""
    run = run_with(tiny_recipe, [5.0, 4.0, 3.0, 2.0, 1.0, 0.0], "{monitor: score, patience: 2, baseline: 1.5}")
    assert len(run.history) == 2 and "best 1.5000 (baseline)" in run.stop_reason


def test_missing_metric_is_an_error_listing_available(tiny_recipe):
    """A monitored metric that never appears stops the run with the metrics that exist."""
    with pytest.raises(
        PluginError,
        match=r"plugin 'early_stopping' failed in on_epoch_end: .*monitored metric 'val_loss' is not in the epoch "
        r"logs; available: accuracy, loss, score",
    ) as caught:
        run_with(tiny_recipe, [1.0] * 6, "{}")
    assert caught.value.exit_code == 2


def test_bad_arguments_point_at_the_recipe(tiny_recipe):
    """Invalid argument values are reported with the plugin's recipe line."""
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:16: `plugins\[1\].args` of plugin 'early_stopping': `patience` must be at least 1",
    ):
        run_with(tiny_recipe, [1.0] * 6, "{patience: 0}")


def saved_weights(run) -> list[np.ndarray]:
    """The weights in the run's model.weights.h5, loaded into a copy of its network."""
    import keras

    network = keras.models.clone_model(run.trainer.network)
    network.load_weights(run.directory / "model.weights.h5")
    return network.get_weights()


@pytest.mark.parametrize(
    ("values", "epochs", "reason"),
    [
        (
            [3.0, 2.0, 2.5, 2.6, 1.0],
            5,
            "score did not improve for 2 epoch(s); best 2.0000 in epoch 2; restored the weights of epoch 2",
        ),
        ([3.0, 2.0, 2.5], 3, "finished; restored the weights of epoch 2"),  # the last epoch, no stop
    ],
)
def test_restored_best_weights_are_the_saved_ones(tiny_recipe, values, epochs, reason):
    """With restore_best_weights, the best epoch's weights are restored before the files are written, when it stops or
    at the last epoch."""
    run = run_with(tiny_recipe, values, "{monitor: score, patience: 2, restore_best_weights: true}", epochs=epochs)
    assert run.stop_reason == reason
    best = run.plugins.get_plugin("plugin_helpers:WeightsRecorder").weights[1]
    for got, want in zip(saved_weights(run), best, strict=True):
        np.testing.assert_array_equal(got, want)
