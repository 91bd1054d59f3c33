"""Tests for the metrics_log plugin."""

from __future__ import annotations

import csv
import json

from framework.recipe import load_recipe
from framework.run import train


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_epoch_rows_in_csv_and_jsonl_with_late_columns(tiny_recipe):
    """Each epoch is a row in both files; columns that appear later (test_*) are added to the CSV."""
    run = train(load_recipe(tiny_recipe("plugins: [metrics_log, {name: evaluation, args: {every: 2}}]\n"), ["training.epochs=2"]))
    logged = rows(run.directory / "metrics.jsonl")
    assert [row["epoch"] for row in logged] == [1, 2] and "test_loss" in logged[1]
    with open(run.directory / "metrics.csv") as stream:
        table = list(csv.DictReader(stream))
    assert list(table[0]) == ["epoch", "accuracy", "loss", "test_accuracy", "test_loss"]
    assert table[0]["test_loss"] == "" and float(table[1]["test_loss"]) == logged[1]["test_loss"]


def test_every_n_batches(tiny_recipe):
    """With every_n_batches: 2, every second batch of each epoch is logged."""
    run = train(load_recipe(tiny_recipe("plugins: [{name: metrics_log, args: {every_n_batches: 2}}]\n")))
    logged = rows(run.directory / "batch_metrics.jsonl")
    assert [(r["epoch"], r["batch"]) for r in logged] == [(1, 2), (1, 4), (1, 6), (2, 2), (2, 4), (2, 6)]


def test_resume_appends_without_duplicates(tiny_recipe):
    """A resumed run keeps the earlier epochs' rows and appends the new ones."""
    file = tiny_recipe("plugins: [metrics_log, {name: checkpoint, args: {monitor: null}}]\n")
    first = train(load_recipe(file, ["training.epochs=2"]))
    (first.directory / "metrics.jsonl").write_text((first.directory / "metrics.jsonl").read_text() + '{"epoch": 3, "loss": 9}\n')
    train(load_recipe(file, ["training.epochs=3"]), first.directory, resume=True)
    assert [row["epoch"] for row in rows(first.directory / "metrics.jsonl")] == [1, 2, 3]
    with open(first.directory / "metrics.csv") as stream:
        assert [row["epoch"] for row in csv.DictReader(stream)] == ["1", "2", "3"]


def test_resume_survives_a_torn_last_line(tiny_recipe):
    """A line cut short by a crash is dropped on resume instead of failing it."""
    file = tiny_recipe("plugins: [metrics_log, {name: checkpoint, args: {monitor: null}}]\n")
    first = train(load_recipe(file, ["training.epochs=1"]))
    log = first.directory / "metrics.jsonl"
    log.write_text(log.read_text() + '{"epoch": 2, "lo')
    train(load_recipe(file, ["training.epochs=2"]), first.directory, resume=True)
    assert [row["epoch"] for row in rows(log)] == [1, 2]
