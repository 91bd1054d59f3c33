"""Tests for watching a metric for improvement."""

from __future__ import annotations

import pytest

from framework.errors import TapelineError
from framework.hooks.monitor import Monitor


def test_auto_mode_follows_the_metric_name():
    """Accuracy-like metrics are maximized, losses minimized."""
    assert Monitor("val_accuracy").mode == "max" and Monitor("test_auc").mode == "max"
    assert Monitor("val_loss").mode == "min"


def test_improvement_respects_min_delta_and_baseline():
    """Only gains larger than min_delta count, starting from the baseline."""
    monitor = Monitor("loss", min_delta=0.1, baseline=1.0)
    assert [monitor.improved(v) for v in (0.95, 0.85, 0.8, 0.7)] == [False, True, False, True]
    assert monitor.best == 0.7


def test_missing_metric_and_bad_mode():
    """An absent metric lists the available ones; a bad mode is a ValueError."""
    with pytest.raises(
        TapelineError,
        match="checkpoint: monitored metric 'val_loss' is not in the epoch logs; available: accuracy, loss",
    ):
        Monitor("val_loss").value({"loss": 1.0, "accuracy": 0.5}, "checkpoint")
    with pytest.raises(ValueError, match="`mode` must be one of 'auto', 'min', 'max' \\(got 'up'\\)"):
        Monitor("loss", "up")
