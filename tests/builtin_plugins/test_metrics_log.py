"""Tests for the metrics_log plugin (per-batch rows; the rows per epoch are the core's history files)."""

from __future__ import annotations

import csv
import json

import pytest

from framework.errors import RecipeError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import build_run


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_n_batches(tiny_recipe):
    """With every_n_batches: 2, every second batch of each epoch is logged, in JSON Lines and CSV."""
    run = train(load_recipe(tiny_recipe("plugins: [{name: metrics_log, args: {every_n_batches: 2}}]\n")))
    logged = rows(run.directory / "batch_metrics.jsonl")
    assert [(r["epoch"], r["batch"]) for r in logged] == [(1, 2), (1, 4), (1, 6), (2, 2), (2, 4), (2, 6)]
    with open(run.directory / "batch_metrics.csv") as stream:
        assert [(row["epoch"], row["batch"]) for row in csv.DictReader(stream)] == [
            (str(r["epoch"]), str(r["batch"])) for r in logged
        ]
    assert not (run.directory / "metrics.csv").exists()


def test_without_batches_it_is_refused_pointing_at_the_history(tiny_recipe):
    """every_n_batches: 0 (it used to mean rows per epoch) is a recipe error saying where those rows are now; bare, it
    logs every 48."""
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:14: `plugins\[0\].args` of plugin 'metrics_log': `every_n_batches` must be a positive "
        r"number of batches \(got 0\): metrics_log writes only per-batch rows; the rows per epoch are in "
        r"history.csv and history.json",
    ):
        build_run(load_recipe(tiny_recipe("plugins: [{name: metrics_log, args: {every_n_batches: 0}}]\n")))
    assert (
        build_run(load_recipe(tiny_recipe("plugins: [metrics_log]\n")))
        .plugins.get_plugin("metrics_log")
        .every_n_batches
        == 48
    )


def test_history_has_every_entry_added_by_plugins_and_keras_callbacks(tiny_recipe):
    """history.csv, the one writer of rows per epoch, holds the entries of plugins (test_*) and Keras callbacks
    (learning_rate)."""
    plateau = "{name: 'keras.callbacks:ReduceLROnPlateau', args: {monitor: loss, patience: 1}}"
    run = train(load_recipe(tiny_recipe(f"plugins: [{{name: evaluation, args: {{every: 2}}}}, {plateau}]\n")))
    with open(run.directory / "history.csv") as stream:
        table = list(csv.DictReader(stream))
    assert {"epoch", "loss", "accuracy", "test_loss", "test_accuracy", "learning_rate"} == set(table[0])
    assert table[0]["test_loss"] == "" and float(table[1]["test_loss"]) == run.history[1]["test_loss"]


def test_resume_appends_without_duplicates(tiny_recipe):
    """A resumed run keeps the earlier epochs' rows, drops those of the epoch being redone and of a torn line, and
    appends."""
    file = tiny_recipe("plugins: [{name: metrics_log, args: {every_n_batches: 3}}]\n")
    first = train(load_recipe(file, ["training.epochs=1"]))
    log = first.directory / "batch_metrics.jsonl"
    log.write_text(log.read_text() + '{"epoch": 2, "batch": 3, "loss": 9}\n{"epoch": 2, "ba')
    train(load_recipe(file, ["training.epochs=2"]), first.directory, resume=True)
    assert [(row["epoch"], row["batch"]) for row in rows(log)] == [(1, 3), (1, 6), (2, 3), (2, 6)]
    with open(first.directory / "batch_metrics.csv") as stream:
        assert [row["epoch"] for row in csv.DictReader(stream)] == ["1", "1", "2", "2"]


def test_calls_of_several_steps_log_at_the_first_boundary_past_each_multiple():
    """With every_n_batches 4 and calls ending at batches 3, 6, 9, 12 (steps_per_execution 3), rows are written at
    6, 9 and 12; the next epoch counts again from its start."""
    from plugins.metrics_log import MetricsLog

    plugin, written = MetricsLog(every_n_batches=4), []
    plugin.batches = type("Rows", (), {"add": staticmethod(written.append)})()
    for epoch in (0, 1):
        for batch in (2, 5, 8, 11):
            plugin.on_batch_end(epoch=epoch, batch=batch, logs={"loss": 1.0})
        plugin.on_epoch_end()
    assert [(row["epoch"], row["batch"]) for row in written] == [(1, 6), (1, 9), (1, 12), (2, 6), (2, 9), (2, 12)]
