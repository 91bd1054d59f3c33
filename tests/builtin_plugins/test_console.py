"""Tests for the console plugin."""

from __future__ import annotations

import io
import re

import rich.console

import plugins.console
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train


def output(tiny_recipe, capsys, mode):
    """What a tiny run prints with the console in `mode` (no leakage audit: its lines come before the console's)."""
    plugins = f"plugins: [evaluation, {{name: console, args: {{mode: {mode}}}}}]\n"
    train(load_recipe(tiny_recipe(plugins), ["dataset.audit=off"]))
    return capsys.readouterr().out


def test_lines_mode_prints_a_line_per_epoch(tiny_recipe, capsys):
    """Lines mode (the default off a terminal) prints a header, a line per epoch and the test results."""
    lines = output(tiny_recipe, capsys, "auto").splitlines()
    assert re.match(r"tiny: [\d,]+ parameters; 96 train, 32 test samples; writing to ", lines[0])
    assert re.fullmatch(r"epoch 1/2  accuracy \d\.\d{4}  loss \d\.\d{4}  \(\d+\.\d s, [\d,]+ samples/s\)", lines[1])
    assert lines[3].startswith("test  accuracy") and len(lines) == 4 and "\r" not in "".join(lines)


def test_progress_mode_draws_a_bar(tiny_recipe, capsys, monkeypatch):
    """Progress mode draws a rich bar (steps, ETA, metrics, samples/s), replaced by each epoch's summary line."""
    screen = rich.console.Console(file=io.StringIO(), force_terminal=True, color_system=None, width=200)
    monkeypatch.setattr(plugins.console, "terminal", lambda: screen)
    output(tiny_recipe, capsys, "progress")
    out = screen.file.getvalue()
    bar = re.search(r"epoch 2/2 .*? 6/6 .*?[\d,]+ samples/s  accuracy \d\.\d{4}  loss \d\.\d{4}", out)
    assert bar, out
    assert re.search(r"epoch 2/2  accuracy \d\.\d{4}  loss \d\.\d{4}  \(\d+\.\d s", out[bar.end() :])


def test_fit_line_breaks_between_parts():
    """Parts stay whole, lines keep to the width, continuation lines are indented; no width: one line."""
    parts = ["epoch 1/5", "accuracy 0.8669", "loss 0.3672", "val_accuracy 0.8915", "(65.4 s, 825 samples/s)"]
    assert plugins.console.fit_line(parts, None) == "  ".join(parts)
    assert plugins.console.fit_line(parts, 40).splitlines() == [
        "epoch 1/5  accuracy 0.8669  loss 0.3672",
        "    val_accuracy 0.8915",
        "    (65.4 s, 825 samples/s)",
    ]
    assert plugins.console.fit_line(["test", "a_very_long_metric_name 1.0000"], 10) == (
        "test\n    a_very_long_metric_name 1.0000"
    )


def test_a_narrow_terminal_gets_wrapped_lines_and_a_shortened_bar(tiny_recipe, capsys, monkeypatch):
    """With more metrics than fit in 80 columns, no epoch or test line is wider, and the bar ends in an ellipsis."""
    screen = rich.console.Console(file=io.StringIO(), force_terminal=True, color_system=None, width=80)
    monkeypatch.setattr(plugins.console, "terminal", lambda: screen)
    recipe = tiny_recipe(
        "metrics: [accuracy, sparse_top_k_categorical_accuracy]\n"
        "plugins: [evaluation, {name: console, args: {mode: progress}}]\n"
    )
    train(load_recipe(recipe))
    out = screen.file.getvalue()
    printed = [line for line in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)) if line.strip()]
    assert any(line.startswith("epoch 2/2  accuracy") for line in printed), out
    assert any(line.startswith("    sparse_top_k_categorical_accuracy") for line in printed), out
    assert all(len(line) <= 80 for line in printed if not line.startswith("tiny: ")), printed  # the header holds a path
    assert re.search(r"epoch 2/2 .* samples/s  accuracy \d\.\d{4}  …", out), out
    assert plugins.console.shorten("accuracy 0.5000  loss 1.2000", 22) == "accuracy 0.5000  …"
    assert plugins.console.shorten("accuracy 0.5000", 5) == "…" and plugins.console.shorten("a 1", 3) == "a 1"


def test_quiet_mode_prints_only_results(tiny_recipe, capsys):
    """Quiet mode prints the test results only."""
    assert output(tiny_recipe, capsys, "quiet").startswith("test  accuracy")
