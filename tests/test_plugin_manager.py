"""Tests for loading plugins: Keras callbacks, entry points, listing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from framework import hookimpl
from framework.cli import main
from framework.errors import RecipeError, TapelineError
from framework.recipe import load_recipe
from framework.plugin_manager import call_order, load_plugins
from framework.registry import PLUGINS
from framework.run import train


def test_keras_callbacks_run_from_a_recipe(tiny_recipe, tmp_path):
    """Keras callbacks named by import path are passed to fit; their args are checked like a plugin's."""
    plugins = (
        "plugins:\n  - {name: 'keras.callbacks:EarlyStopping', args: {monitor: loss, patience: 1, min_delta: 10}}\n"
        f"  - {{name: 'keras.callbacks:CSVLogger', args: {{filename: {tmp_path / 'keras.csv'}}}}}\n"
    )
    run = train(load_recipe(tiny_recipe(plugins), ["training.epochs=5"]))
    assert len(run.history) == 2 and run.keras_callbacks[0].stopped_epoch == 1
    assert len((tmp_path / "keras.csv").read_text().splitlines()) == 3
    with pytest.raises(RecipeError, match=r"unknown key `plugins\[0\].args.patiense`; .*did you mean 'patience'\?"):
        load_recipe(tiny_recipe("plugins: [{name: 'keras.callbacks:EarlyStopping', args: {patiense: 1}}]\n"))


def test_list_plugins_shows_source_and_hooks(capsys):
    """`tapeline list plugins` names each plugin's source and the hooks it implements."""
    assert main(["list", "plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"early_stopping +built-in +Stops training when", out)
    assert "hooks: on_epoch_end, on_train_begin, on_train_end" in out
    assert "hooks: on_epoch_end, on_batch_end?" in out  # nan_guard


def test_installed_package_plugin_via_entry_point(tmp_path, monkeypatch, tiny_recipe):
    """The example package under tests/, once installed, is found by its entry-point name and runs."""
    source = Path(__file__).parent / "example_plugin"
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setattr(PLUGINS, "_entries", None)  # forget the entry points read before the install
    entry = PLUGINS.get("epoch_counter")
    assert entry.source == "entry point (tapeline-example)"
    run = train(load_recipe(tiny_recipe("plugins: [{name: epoch_counter, args: {start: 10}}]\n")))
    assert [row["epochs_seen"] for row in run.history] == [11.0, 12.0]


def test_plugins_called_by_order_then_recipe_order(tiny_recipe):
    """Lower `order` is called first; equal orders keep recipe order; show lists it."""
    recipe = load_recipe(tiny_recipe("plugins: [console, 'test_callback:Recorder', evaluation]\n"))
    order = call_order(load_plugins(recipe)[0])
    assert order["on_epoch_end"] == ["evaluation", "test_callback:Recorder", "console"]
    assert order["on_batch_end"] == []


def test_plugin_with_unknown_hook_is_refused(tiny_recipe, monkeypatch):
    """A hookimpl whose name is not a Tapeline hook is reported with the plugin's name."""

    class Typo:
        @hookimpl
        def on_epoch_ned(self, epoch: int) -> None:
            """Misspelled on purpose."""

    monkeypatch.setattr(sys.modules[__name__], "Typo", Typo, raising=False)
    with pytest.raises(TapelineError, match="plugin 'test_plugin_manager:Typo' implements unknown hook 'on_epoch_ned'; hooks: .*did you mean 'on_epoch_end'"):
        load_plugins(load_recipe(tiny_recipe("plugins: ['test_plugin_manager:Typo']\n")))
