"""Tests for `tapeline runs` and `tapeline compare`."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import main
from framework.extras import pip_install
from framework.recipe.loader import load_recipe
from framework.tools.runs import final_test_metrics
from framework.training.lifecycle import train
from framework.training.run import Run

STOPPER = "{name: early_stopping, args: {monitor: loss, baseline: 0.0, patience: 1}}"


@pytest.fixture(scope="module")
def runs(module_tiny_recipe) -> tuple[Run, Run]:
    """A finished 2-epoch run with validation and test metrics, and one without validation stopped after 1 of 2
    epochs."""
    finished = train(load_recipe(module_tiny_recipe("plugins: [evaluation]\n"), ["dataset.validation_split=0.25"]))
    stopped = train(load_recipe(module_tiny_recipe(f"plugins: [evaluation, {STOPPER}]\n", "stopped.yaml")))
    return finished, stopped


def run_cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def copy_run(run: Run, root: Path, label: str) -> Path:
    """A copy of `run`'s directory at `root/label`, to damage."""
    return Path(shutil.copytree(run.directory, root / label))


def test_table_shows_status_epochs_metrics_and_time(capsys, runs):
    """One row per run: status with the stop reason, epochs done/planned, best and final val_loss, test metrics,
    time."""
    finished, stopped = runs
    code, out, _ = run_cli(capsys, "runs", finished.directory.parents[1])
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == [
        "run",
        "status",
        "epochs",
        "best",
        "val_loss",
        "final",
        "val_loss",
        "test_accuracy",
        "test_loss",
        "test_macro_f1",
        "time",
    ]
    test = json.loads((finished.directory / "evaluation.json").read_text())
    best = min(row["val_loss"] for row in finished.history)
    assert first.split() == [
        "tiny/version_0",
        "completed",
        "2/2",
        f"{best:.4f}",
        f"{finished.history[-1]['val_loss']:.4f}",
        f"{test['accuracy']:.4f}",
        f"{test['loss']:.4f}",
        f"{test['macro_f1']:.4f}",
        *first.split()[-2:],
    ]
    assert first.split()[-1] == "s" and float(first.split()[-2]) > 0
    stopped_test = json.loads((stopped.directory / "evaluation.json").read_text())
    assert second.split("  ")[:2] == [
        "tiny/version_1",
        "stopped early: loss did not improve for 1 epoch(s); best 0.0000 (baseline)",
    ]
    assert second.split()[-6:-2] == [
        "1/2",
        f"{stopped_test['accuracy']:.4f}",
        f"{stopped_test['loss']:.4f}",
        f"{stopped_test['macro_f1']:.4f}",
    ]


def test_sort_and_json(capsys, runs):
    """--sort orders best first (highest for accuracy-like names) with runs lacking the metric last; --json gives the
    same data."""
    finished, stopped = runs
    root = finished.directory.parents[1]
    code, out, _ = run_cli(capsys, "runs", root, "--sort", "val_loss", "--json")
    listed = json.loads(out)
    assert code == 0 and [r["path"] for r in listed] == [str(finished.directory), str(stopped.directory)]
    assert listed[0] | {"seconds": None, "test": None} == {
        "path": str(finished.directory),
        "name": "tiny",
        "version": "version_0",
        "status": "completed",
        "epochs": 2,
        "planned_epochs": 2,
        "metric": "val_loss",
        "best": min(r["val_loss"] for r in finished.history),
        "final": finished.history[-1]["val_loss"],
        "test": None,
        "seconds": None,
    }
    assert listed[1]["best"] is None and listed[1]["status"].startswith("stopped early: loss did not improve")
    accuracies = {r["path"]: r["test"]["test_accuracy"] for r in listed}
    code, out, _ = run_cli(capsys, "runs", root, "--sort", "test_accuracy", "--metric", "loss", "--json")
    order = [r["path"] for r in json.loads(out)]
    assert code == 0 and order == sorted(accuracies, key=lambda path: -accuracies[path])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["runs", "{root}/nowhere"], "runs directory '{root}/nowhere' does not exist"),
        (["runs", "{root}/empty"], "no runs under '{root}/empty' (a run directory holds recipe.yaml)"),
        (
            ["runs", "{runs}", "--sort", "val_los"],
            "--sort 'val_los': no run has this metric; metrics: accuracy, loss, test_accuracy, test_loss, "
            "test_macro_f1, val_accuracy, val_loss",
        ),
        (["runs", "{runs}", "--metric", "f1"], "--metric 'f1': no run has this metric"),
    ],
)
def test_bad_input_exits_2(capsys, runs, tmp_path, argv, message):
    """A missing or empty directory, or a metric no run has, is exit 2 with a message."""
    (tmp_path / "empty").mkdir()
    where = {"{root}": str(tmp_path), "{runs}": str(runs[0].directory.parents[1])}
    for key, value in where.items():
        argv, message = [a.replace(key, value) for a in argv], message.replace(key, value)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err.startswith(f"tapeline: error: {message}") and "Traceback" not in err


def test_unreadable_and_unfinished_runs_are_listed(capsys, runs, tmp_path):
    """Corrupt files make a row 'unreadable: reason'; run.json's status is shown as it is (failed with its error,
    interrupted, preempted); without run.json a run is running or was killed."""
    finished, _ = runs
    (copy_run(finished, tmp_path, "bad_history") / "history.json").write_text('[{"epoch": 1,')
    (copy_run(finished, tmp_path, "bad_rows") / "history.json").write_text('[{"loss": 1.0}]')
    (copy_run(finished, tmp_path, "bad_summary") / "run.json").write_text("[1, 2]\n")
    (copy_run(finished, tmp_path, "bad_recipe") / "recipe.yaml").write_text("name: [x\n")
    (copy_run(finished, tmp_path, "bad_encoding") / "recipe.yaml").write_bytes(b"name: \xff\n")
    (copy_run(finished, tmp_path, "bad_evaluation") / "evaluation.json").write_bytes(b"\xff\xfe")
    (copy_run(finished, tmp_path, "killed") / "run.json").unlink()
    for status, error in (
        ("failed", "PluginError: plugin 'x' failed"),
        ("interrupted", "KeyboardInterrupt"),
        ("preempted", "Preempted: SIGTERM"),
    ):
        summary = copy_run(finished, tmp_path, status) / "run.json"
        summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": status, "error": error}))
    code, out, err = run_cli(capsys, "runs", tmp_path)
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in out.splitlines()[1:]}
    assert code == 0 and err == ""
    assert rows["bad_history"].startswith("unreadable: history.json is not valid JSON (Expecting")
    assert rows["bad_rows"] == "unreadable: history.json is not a list of epoch rows with an 'epoch' number each"
    assert rows["bad_summary"] == "unreadable: run.json is not a mapping (got list)"
    assert rows["bad_recipe"].startswith("unreadable: recipe.yaml is not valid YAML (while parsing a flow sequence")
    assert rows["bad_encoding"].startswith(
        "unreadable: recipe.yaml is not valid YAML ('utf-8' codec can't decode byte 0xff"
    )
    assert rows["bad_evaluation"].startswith("unreadable: evaluation.json is not valid JSON (")
    assert rows["killed"].split()[:4] == ["running", "or", "killed", "2/2"]
    assert rows["failed"].startswith("failed: PluginError: plugin 'x' failed")
    assert rows["interrupted"].split()[:2] == ["interrupted", "2/2"] and rows["preempted"].split()[:2] == [
        "preempted",
        "2/2",
    ]


def test_test_metrics_are_the_top_level_numbers_of_the_evaluation(tmp_path):
    """Compiled metrics and overall scores count; a binary output's threshold, per-class details and strings do not."""
    report = {
        "split": "test",
        "loss": 0.5,
        "accuracy": 0.9,
        "task": "binary",
        "threshold": 0.5,
        "roc_auc": 0.8,
        "per_class": {"a": {"f1": 1.0}},
    }
    (tmp_path / "evaluation.json").write_text(json.dumps(report))
    assert final_test_metrics(tmp_path) == {"test_loss": 0.5, "test_accuracy": 0.9, "test_roc_auc": 0.8}


def test_runs_starts_no_tensorflow(runs):
    """`tapeline runs` reads files only: TensorFlow is not imported."""
    check = (
        "import sys\nfrom framework.cli import main\ncode = main(['runs', sys.argv[1]])\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\nsys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(runs[0].directory.parents[1])], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "tiny/version_1" in done.stdout


def test_compare_draws_the_curves_of_several_runs(capsys, runs, tmp_path):
    """compare writes one image with a panel per --metric and a line per run."""
    from matplotlib.image import imread

    finished, stopped = runs
    output = tmp_path / "curves.png"
    code, out, _ = run_cli(
        capsys,
        "compare",
        finished.directory,
        stopped.directory,
        "--metric",
        "loss",
        "--metric",
        "accuracy",
        "--output",
        output,
    )
    assert code == 0 and out == f"wrote {output}\n"
    height, width, _ = imread(output).shape
    assert (width, height) == (1200, 450)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{stopped}"], "run '{stopped}' has no metric 'val_loss' in its history; its metrics: accuracy, loss"),
        (["{finished}", "{root}"], "'{root}' is not a run directory (no recipe.yaml)"),
        (
            ["{finished}", "--output", "{root}/curves.xyz"],
            "--output '{root}/curves.xyz': matplotlib cannot write '.xyz'; use one of ",
        ),
    ],
)
def test_compare_bad_input_exits_2(capsys, runs, tmp_path, argv, message):
    """A metric a run lacks (its metrics listed), a folder that holds no run, an unknown image format: exit 2."""
    where = {"{finished}": str(runs[0].directory), "{stopped}": str(runs[1].directory), "{root}": str(tmp_path)}
    for key, value in where.items():
        argv, message = [a.replace(key, value) for a in argv], message.replace(key, value)
    code, _, err = run_cli(capsys, "compare", *argv)
    assert code == 2 and err.startswith(f"tapeline: error: {message}")


def test_compare_without_matplotlib_says_what_to_install(capsys, runs, monkeypatch):
    """Without matplotlib, compare exits 2 with the pip command."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    code, _, err = run_cli(capsys, "compare", runs[0].directory)
    assert code == 2 and f"tapeline compare needs matplotlib: {pip_install('plots')} (or " in err


def test_a_tune_directory_is_not_a_run(tmp_path):
    """A tune directory's own recipe.yaml (beside tune.json) is skipped; its trials are runs."""
    from framework.tools.runs import find_runs

    trial = tmp_path / "tune_0" / "trial_0"
    trial.mkdir(parents=True)
    for directory in (trial, trial.parent):
        (directory / "recipe.yaml").write_text("name: x\n")
    (trial.parent / "tune.json").write_text("{}\n")
    assert [record.label for record in find_runs(tmp_path)] == ["tune_0/trial_0"]
