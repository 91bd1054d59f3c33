"""Tests for the tapeline command line."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [
        ["backbone", "built-in"],
        ["fast_cnn", "built-in"],
        ["mlp", "built-in"],
        ["seed_cnn", "built-in"],
    ]
    code, out, _ = run_cli(capsys, "list", "plugins")
    assert code == 0 and "evaluation" in out and "console" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "{recipe}", "--set", "training.epochs=five"],
            "`training.epochs` must be a positive integer (got 'five')",
        ),
        (["validate", "{recipe}", "--set", "model=seed_cn"], "did you mean 'seed_cnn'?"),
        (["show", "{recipe}", "--set", "training.epoch=1"], "unknown key `training.epoch`"),
        (
            ["train", "{recipe}", "--set", "dataset.args.num_train=-1"],
            "`dataset.args` of dataset 'synthetic': `num_train` must be positive (got -1)",
        ),
        (["evaluate", "{recipe}", "--weights", "/nowhere"], "weights file '/nowhere' does not exist"),
        (["train", "missing.yaml"], "missing.yaml: cannot read recipe"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, tiny_recipe, argv, message):
    """Bad recipes, overrides, files and weights exit with 2 and a message, no traceback."""
    code, out, err = run_cli(capsys, *[a.replace("{recipe}", str(tiny_recipe())) for a in argv])
    assert code == 2 and message in err and "Traceback" not in err and err.startswith("tapeline: error: ")


def test_mnist_offline_exits_2_with_instructions(capsys, monkeypatch):
    """The MNIST recipe on an offline machine fails fast with how to provide the file."""

    def offline():
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    code, _, err = run_cli(capsys, "train", "recipes/mnist.yaml")
    assert code == 2 and "cannot load mnist" in err and "~/.keras/datasets/mnist.npz" in err


def test_usage_errors_exit_2(capsys):
    """An invalid choice on the command line is an argparse usage error (exit 2)."""
    with pytest.raises(SystemExit) as caught:
        main(["list", "widgets"])
    assert caught.value.code == 2 and "invalid choice: 'widgets'" in capsys.readouterr().err


def test_python_dash_m_framework(tmp_path):
    """`python -m framework` runs the same command line in a fresh process, with exit code 2 for bad input."""
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {epochs: 0}\n")
    done = subprocess.run(
        [sys.executable, "-m", "framework", "validate", str(recipe)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert f"{recipe}:4: `training.epochs` must be a positive integer (got 0)" in done.stderr
    assert "Traceback" not in done.stderr


WITHOUT_TENSORFLOW = """
import atexit, os, runpy, sys
def check():  # at the end of `python -m framework`, which ends the process itself
    if "tensorflow" in sys.modules:
        print("tensorflow was imported", file=sys.stderr, flush=True)
        os._exit(99)
atexit.register(check)
sys.argv = ["tapeline", *sys.argv[1:]]
runpy.run_module("framework", run_name="__main__")
"""


def test_importing_the_cli_and_hookimpl_starts_no_tensorflow():
    """`import framework.cli` and `from framework import hookimpl` do not import TensorFlow."""
    check = "import sys, framework.cli\nfrom framework import hookimpl\nassert 'tensorflow' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "argv, code, expected",
    [
        (["--help"], 0, "usage: tapeline"),
        (["list", "plugins"], 0, "hooks: on_epoch_begin"),
        (["list", "models"], 0, "seed_cnn"),
        (["list", "datasets"], 0, "fashion_mnist"),
        (["show", "{bad}"], 2, "invalid YAML"),
        (["train", "{bad}", "--set", "x"], 2, "invalid YAML"),
        (["validate", "{typo}"], 2, "(3 problems)"),
        (["show", "{plain}"], 0, "plugin call order"),
    ],
)
def test_help_list_and_recipe_errors_start_no_tensorflow(tmp_path, argv, code, expected):
    """--help, list, broken YAML, recipe mistakes and show of a recipe naming no Keras optimizer, loss or metric import
    no TensorFlow."""
    files = {
        "{bad}": "name: [x\n",
        "{typo}": "name: x\ndataset: {name: synthetic, args: {num_train: 'ten'}}\nmodel: seed_cn\ntraining: {epoch: "
        "3}\n",
        "{plain}": "name: x\ndataset: synthetic\nmodel: mlp\nplugins: [console, early_stopping]\n",
    }
    for placeholder, text in files.items():
        (tmp_path / f"{placeholder[1:-1]}.yaml").write_text(text)
    argv = [str(tmp_path / f"{a[1:-1]}.yaml") if a in files else a for a in argv]
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert expected in done.stdout + done.stderr


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="needs apt-get install dataset-fashion-mnist"
)
def test_validate_real_fashion_mnist(capsys):
    """The shipped Fashion-MNIST recipe loads the real files (60,000 + 10,000 images, 10% held out)."""
    code, out, _ = run_cli(capsys, "validate", "recipes/fashion_mnist.yaml")
    assert code == 0 and "54,000 train, 6,000 validation, 10,000 test samples, input (28, 28, 1), 10 classes" in out
    assert "4,738,826 parameters" in out


FUZZ_BASE = {
    "name": "fuzz",
    "seed": 1,
    "dataset": {"name": "synthetic", "args": {"num_train": 32}, "validation_split": 0.25},
    "model": {"name": "seed_cnn", "args": {"filters": [2, 4], "units": 8}},
    "optimizer": {"name": "adam", "args": {"learning_rate": 0.001}},
    "metrics": ["accuracy"],
    "training": {"epochs": 2, "batch_size": 16, "precision": "float32"},
    "plugins": [
        "console",
        {"name": "early_stopping", "args": {"patience": 2}},
        {"name": "checkpoint", "args": {"keep_last": 1}},
    ],
}
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(data, prefix=()):
    """Every path into nested dicts and lists."""
    yield prefix
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield from paths(value, (*prefix, key))


@st.composite
def mutated_recipes(draw) -> str:
    """A valid recipe with 1-3 random edits (replace, delete, add a key), sometimes with its text garbled."""
    data = copy.deepcopy(FUZZ_BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in paths(data) if p]))
        parent = functools.reduce(lambda d, k: d[k], path[:-1], data)
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(ANY_VALUE)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(ANY_VALUE)
    text = yaml.safe_dump(data)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.text(alphabet=":-[]{}&*!|>'\"#%@ \n\t", max_size=4))
            + text[at + draw(st.integers(0, 3)) :]
        )
    return text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_recipes())
def test_mutated_recipes_never_give_a_traceback(text, tmp_path_factory):
    """500 mutated recipes each load (exit 0) or are refused with a message (exit 2), never a traceback."""
    file = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    file.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["show", str(file)])
    assert code in (0, 2) and "Traceback" not in err.getvalue()
    assert code == 0 or err.getvalue().startswith("tapeline: error: ")
