"""Tests for the tapeline command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import pytest

from framework.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_evaluate(capsys, tiny_recipe, tmp_path):
    """train prints epochs and test results and saves the run; evaluate reproduces the test numbers."""
    recipe = tiny_recipe("plugins: [evaluation, console]\n")
    code, out, _ = run_cli(capsys, "train", recipe, "--set", "training.epochs=1", "--output", tmp_path / "run")
    assert code == 0
    assert "epoch 1/1  accuracy" in out and "samples/s" in out
    test_line = next(line for line in out.splitlines() if line.startswith("test  "))
    assert out.rstrip().endswith(f"run saved to {tmp_path / 'run'}")
    code, out, _ = run_cli(capsys, "evaluate", recipe, "--set", "training.epochs=1", "--weights", tmp_path / "run")
    assert code == 0 and out.strip() == test_line.strip()


def test_validate_show_and_list(capsys, tiny_recipe):
    """validate builds without training, show prints the resolved recipe and call order, list lists."""
    recipe = tiny_recipe("plugins: [console, evaluation]\n")
    code, out, _ = run_cli(capsys, "validate", recipe)
    assert code == 0 and "ok — synthetic: 96 train, 0 validation, 32 test samples, input (8, 8, 1), 3 classes" in out
    code, out, _ = run_cli(capsys, "show", recipe, "--set", "training.epochs=9")
    assert code == 0 and "  epochs: 9\n" in out and "#   on_epoch_end: evaluation, console" in out
    code, out, _ = run_cli(capsys, "list", "models")
    assert code == 0 and out.splitlines()[1].startswith("seed_cnn  built-in")
    code, out, _ = run_cli(capsys, "list", "plugins")
    assert code == 0 and "evaluation" in out and "console" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "{recipe}", "--set", "training.epochs=five"], "`training.epochs` must be a positive integer (got 'five')"),
        (["validate", "{recipe}", "--set", "model=seed_cn"], "did you mean 'seed_cnn'?"),
        (["show", "{recipe}", "--set", "training.epoch=1"], "unknown key `training.epoch`"),
        (["train", "{recipe}", "--set", "dataset.args.num_train=-1"], "`dataset.args` of dataset 'synthetic': sizes and shape must be positive"),
        (["evaluate", "{recipe}", "--weights", "/nowhere"], "weights file '/nowhere' does not exist"),
        (["train", "missing.yaml"], "missing.yaml: cannot read recipe"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, tiny_recipe, argv, message):
    """Bad recipes, overrides, files and weights exit with 2 and a message, no traceback."""
    code, out, err = run_cli(capsys, *[a.replace("{recipe}", str(tiny_recipe())) for a in argv])
    assert code == 2 and message in err and "Traceback" not in err and err.startswith("tapeline: error: ")


def test_mnist_offline_exits_2_with_instructions(capsys, tiny_recipe, monkeypatch):
    """The MNIST recipe on an offline machine fails fast with how to provide the file."""

    def offline():
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    code, _, err = run_cli(capsys, "train", "recipes/mnist.yaml")
    assert code == 2 and "cannot load mnist" in err and "~/.keras/datasets/mnist.npz" in err


def test_usage_errors_exit_2(capsys):
    """Unknown commands and missing arguments are argparse usage errors (exit 2)."""
    with pytest.raises(SystemExit) as caught:
        main(["list", "widgets"])
    assert caught.value.code == 2 and "invalid choice: 'widgets'" in capsys.readouterr().err


def test_python_dash_m_framework(tmp_path):
    """`python -m framework` runs the same command line in a fresh process, with exit code 2 for bad input."""
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {epochs: 0}\n")
    done = subprocess.run([sys.executable, "-m", "framework", "validate", str(recipe)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"{recipe}:4: `training.epochs` must be a positive integer (got 0)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="needs apt-get install dataset-fashion-mnist")
def test_validate_real_fashion_mnist(capsys):
    """The shipped Fashion-MNIST recipe loads the real files (60,000 + 10,000 images, 10% held out)."""
    code, out, _ = run_cli(capsys, "validate", "recipes/fashion_mnist.yaml")
    assert code == 0 and "54,000 train, 6,000 validation, 10,000 test samples, input (28, 28, 1), 10 classes" in out
    assert "4,738,826 parameters" in out
