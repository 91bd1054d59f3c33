"""Tests for the console plugin."""

from __future__ import annotations

import re

from framework.recipe import load_recipe
from framework.run import train


def output(tiny_recipe, capsys, mode):
    train(load_recipe(tiny_recipe(f"plugins: [evaluation, {{name: console, args: {{mode: {mode}}}}}]\n")))
    return capsys.readouterr().out


def test_lines_mode_prints_a_line_per_epoch(tiny_recipe, capsys):
    """Lines mode (the default off a terminal) prints a header, a line per epoch and the test results."""
    lines = output(tiny_recipe, capsys, "auto").splitlines()
    assert re.match(r"tiny: [\d,]+ parameters; 96 train, 32 test samples; writing to ", lines[0])
    assert re.fullmatch(r"epoch 1/2  accuracy \d\.\d{4}  loss \d\.\d{4}  \(\d+\.\d s, [\d,]+ samples/s\)", lines[1])
    assert lines[3].startswith("test  accuracy") and len(lines) == 4 and "\r" not in "".join(lines)


def test_progress_mode_draws_a_bar(tiny_recipe, capsys):
    """Progress mode redraws a bar with steps, ETA and metrics, ending each epoch on its summary line."""
    out = output(tiny_recipe, capsys, "progress")
    assert re.search(r"\repoch 1/2 \[=+\] 6/6 ETA 0:00  accuracy", out)
    assert "\r\x1b[Kepoch 2/2  accuracy" in out


def test_quiet_mode_prints_only_results(tiny_recipe, capsys):
    """Quiet mode prints the test results only."""
    assert output(tiny_recipe, capsys, "quiet").startswith("test  accuracy")
