"""Tests for the lr_schedule plugin."""

from __future__ import annotations

import pytest

from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from plugins.lr_schedule import LRSchedule


def rates(schedule: LRSchedule, epochs: int) -> list[float]:
    schedule.base_lr = schedule.plateau_lr = 1.0
    return [round(schedule.rate(e, epochs), 4) for e in range(epochs)]


def test_named_schedules():
    """Cosine falls to min_lr, step and exponential multiply by factor, warm-up ramps up first."""
    assert rates(LRSchedule("cosine", min_lr=0.1), 3) == [1.0, 0.775, 0.325]
    assert rates(LRSchedule("step", factor=0.5, step_epochs=2), 5) == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert rates(LRSchedule("exponential", factor=0.5), 3) == [1.0, 0.5, 0.25]
    assert rates(LRSchedule("cosine", warmup_epochs=2), 4) == [0.3333, 0.6667, 1.0, 0.5]


def test_bad_arguments():
    """A factor outside (0, 1) is refused."""
    with pytest.raises(ValueError, match="`factor` must be in \\(0, 1\\) \\(got 2.0\\)"):
        LRSchedule(factor=2.0)


def test_sets_the_optimizer_rate_and_logs_it(tiny_recipe):
    """The optimizer's learning rate follows the schedule and each epoch logs `lr`."""
    plugins = "plugins: [{name: lr_schedule, args: {schedule: step, factor: 0.5, step_epochs: 1}}]\n"
    run = train(
        load_recipe(tiny_recipe(plugins), ["training.epochs=3", "optimizer={name: adam, args: {learning_rate: 0.01}}"])
    )
    assert [round(row["lr"], 6) for row in run.history] == [0.01, 0.005, 0.0025]


def test_plateau_reduces_when_the_metric_stalls(tiny_recipe):
    """Reduce-on-plateau multiplies the rate by factor after `patience` epochs without improvement."""
    plugins = (
        "plugins:\n  - {name: 'plugin_helpers:Scripted', args: {values: [1, 1, 1, 0.5, 0.5, 0.5]}}\n"
        "  - {name: lr_schedule, args: {schedule: plateau, monitor: score, patience: 2, factor: 0.1, min_lr: "
        "0.00002}}\n"
    )
    run = train(
        load_recipe(tiny_recipe(plugins), ["training.epochs=6", "optimizer={name: sgd, args: {learning_rate: 0.001}}"])
    )
    assert [round(row["lr"], 7) for row in run.history] == [0.001, 0.001, 0.001, 0.0001, 0.0001, 0.0001]
