"""Tests for the run directory's resume check: what may change on --resume and what may not."""

from __future__ import annotations

import json

import pytest

from framework.cli import main
from framework.errors import TapelineError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run_directory import check_resumable, resume_may_change

PLUGINS = (
    "plugins: [evaluation, {name: console, args: {mode: lines}}, {name: metrics_log, args: {every_n_batches: 2}}]\n"
)


def test_display_args_may_change_on_resume(tiny_recipe, tmp_path, capsys):
    """The console's mode and metrics_log's interval may differ on --resume; the run continues with the new ones."""
    run = tmp_path / "run"
    assert main(["train", str(tiny_recipe(PLUGINS)), "--output", str(run), "--set", "training.epochs=1"]) == 0
    capsys.readouterr()
    changed = ["--set", "plugins.1.args.mode=quiet", "--set", "plugins.2.args.every_n_batches=3"]
    assert main(["train", "--resume", str(run), "--set", "training.epochs=2", *changed]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" not in out and out.startswith("test  accuracy")  # quiet from now on
    saved = (run / "recipe.yaml").read_text()
    assert "mode: quiet" in saved and "every_n_batches: 3" in saved


def test_eval_batch_size_may_change_on_resume(tiny_recipe):
    """The validation and test batch changes no training step: a run saved without it resumes with it set, and
    run.json says which each session used."""
    file = tiny_recipe("plugins: [evaluation]\n")
    first = train(load_recipe(file, ["training.epochs=1"]))
    assert json.loads((first.directory / "run.json").read_text())["global_eval_batch_size"] == 16  # the batch_size
    resumed = load_recipe(file, ["training.epochs=2", "training.eval_batch_size=7"])
    check_resumable(resumed, first.directory)
    train(resumed, first.directory, resume=True)
    assert json.loads((first.directory / "run.json").read_text())["global_eval_batch_size"] == 7
    with pytest.raises(TapelineError, match=r"(?s)training.eval_batch_size, the distribute section.*\+  batch_size: 5"):
        check_resumable(load_recipe(file, ["training.epochs=2", "training.batch_size=5"]), first.directory)


def test_other_plugin_args_and_a_moved_plugin_still_refuse(tiny_recipe):
    """An arg a plugin does not list (evaluation's every), or a free arg of a plugin moved elsewhere, is refused."""
    file = tiny_recipe(PLUGINS)
    first = train(load_recipe(file, ["training.epochs=1"]))
    with pytest.raises(TapelineError, match=r"(?s)plugin args such as the console's mode may change.*\+    every: 1"):
        check_resumable(load_recipe(file, ["plugins.0={name: evaluation, args: {every: 1}}"]), first.directory)
    swapped = (
        "plugins: [evaluation, {name: metrics_log, args: {every_n_batches: 2}}, {name: console, args: {mode: lines}}]\n"
    )
    with pytest.raises(TapelineError, match=r"cannot resume: the recipe differs"):
        check_resumable(load_recipe(tiny_recipe(swapped)), first.directory)


def test_the_built_in_display_plugins_say_what_may_change():
    """Console, plots, metrics_log and tensorboard list their display args; the others none."""
    assert resume_may_change("console") == ("mode",) and resume_may_change("plots") == ("dpi",)
    assert resume_may_change("metrics_log") == ("every_n_batches",)
    assert resume_may_change("tensorboard") == ("every_n_batches", "histograms")
    assert resume_may_change("evaluation") == () == resume_may_change("checkpoint")
