"""Tests for the console plugin."""

from __future__ import annotations

import io
import re

import rich.console

import plugins.console
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train


def output(tiny_recipe, capsys, mode):
    train(load_recipe(tiny_recipe(f"plugins: [evaluation, {{name: console, args: {{mode: {mode}}}}}]\n")))
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
    bar = re.search(r"epoch 2/2 .*? 6/6 .*?accuracy \d\.\d{4}  loss \d\.\d{4}  [\d,]+ samples/s", out)
    assert bar, out
    assert re.search(r"epoch 2/2  accuracy \d\.\d{4}  loss \d\.\d{4}  \(\d+\.\d s", out[bar.end() :])


def test_quiet_mode_prints_only_results(tiny_recipe, capsys):
    """Quiet mode prints the test results only."""
    assert output(tiny_recipe, capsys, "quiet").startswith("test  accuracy")
