"""Tests for the plots plugin."""

from __future__ import annotations

import importlib.util
import re

import pytest

from framework.errors import TapelineError
from framework.extras import pip_install
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from plugins.plots import Plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_draws_learning_curves_and_confusion_matrix(tiny_recipe):
    """A run with evaluation and plots leaves two PNG images."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation, plots]\n"), ["dataset.validation_split=0.25"]))
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (run.directory / name).read_bytes()[:8] == PNG


def test_draws_an_error_grid_per_split_of_the_error_report(tiny_recipe):
    """With the error report of two splits, one image grid per split: errors_test.png and errors_train.png."""
    plugins = "plugins: [{name: evaluation, args: {errors: {splits: [test, train], top: 4}}}, plots]\n"
    run = train(load_recipe(tiny_recipe(plugins)))
    for name in ("errors_test.png", "errors_train.png"):
        assert (run.directory / name).read_bytes()[:8] == PNG
    assert not (run.directory / "errors.png").exists()


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    """Without matplotlib the plugin refuses to start, naming the extra to install."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(TapelineError, match=re.escape(f"needs matplotlib: {pip_install('plots')}")):
        Plots()
