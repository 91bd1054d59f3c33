"""Tests for `tapeline tune`: the search section's checks, a study of run directories, resume after SIGKILL, shared
storage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from framework.cli import main
from framework.tools.tune_report import BEST_RECIPE, HISTORY_PNG, IMPORTANCE_PNG

ROOT = Path(__file__).resolve().parents[2]
SEARCH = """\
optimizer: adam
search:
  trials: 3
  space:
    optimizer.args.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}
"""
FAST = [
    "--set",
    "training.epochs=1",
    "--set",
    "dataset.validation_split=0.25",
    "--set",
    "training.jit_compile=false",
    "--set",
    "model={name: mlp, args: {units: [8]}}",
]


def run_cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def tapeline(*argv: object) -> subprocess.Popen:
    """`tapeline ARGV` in a new process (stdout and stderr to a pipe)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "framework", *map(str, argv)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def study_trials(url: str, name: str = "tiny") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


@pytest.mark.parametrize(
    "space, message",
    [
        (
            "optimizer.args.learning_rte: {log_uniform: [1.0e-4, 1.0e-2]}",
            "unknown key `optimizer.args.learning_rte`; allowed: learning_rate",
        ),
        ("training.epochs: {int: [0, 3]}", "`training.epochs` must be a positive integer (got 0) (search value 0)"),
        ("model.args.units: {int: [8, 3]}", "`search.space.model.args.units`: `int` needs low < high (got [8, 3])"),
        ("optimizer.args.learning_rate: {log_uniform: [0, 0.1]}", "`log_uniform` needs low > 0"),
        ("training.batch_size: {choice: []}", "`choice` needs a non-empty list of values (got [])"),
        (
            "optimizer.args.learning_rate: {log_unifrom: [1.0e-4, 1.0e-2]}",
            "unknown distribution 'log_unifrom'; distributions: choice, int, log_uniform, uniform; did you mean "
            "'log_uniform'?",
        ),
        ("training.batch_size: {uniform: [8, 32], step: 8}", "`step` goes with `int` only (got it with `uniform`)"),
    ],
)
def test_search_space_mistakes_exit_2_at_their_line(capsys, tiny_recipe, space, message):
    """Unknown recipe keys, values the recipe refuses and invalid distributions exit 2 before any trial, at the search
    line."""
    recipe = tiny_recipe(f"optimizer: adam\nsearch:\n  space:\n    {space}\n")
    line = recipe.read_text().splitlines().index(f"    {space}") + 1
    code, out, err = run_cli(capsys, "tune", recipe, *FAST)
    assert code == 2 and f"{recipe}:{line}: " in err and message in err and "Traceback" not in err
    assert "trial" not in out and not (recipe.parent / "runs").exists()


@pytest.mark.parametrize(
    "extra, argv, message",
    [
        ("", FAST, "`tapeline tune` needs a `search:` section"),
        (
            SEARCH + "  trails: 3\n",
            FAST,
            "unknown key `search.trails`; allowed: space, metric, direction, trials, timeout; did you mean 'trials'?",
        ),
        (
            SEARCH,
            ["--set", "training.epochs=1"],
            "`search.metric` is 'val_loss', but the recipe holds out no validation data",
        ),
        (
            SEARCH,
            [*FAST, "--storage", "nonsense://x"],
            "cannot open study 'tiny' in storage 'nonsense://x': NoSuchModuleError",
        ),
        (SEARCH, [*FAST, "--trials", "0"], "--trials and --timeout must be positive (got --trials 0"),
    ],
)
def test_bad_search_settings_and_storage_exit_2(capsys, tiny_recipe, extra, argv, message):
    """A missing or misspelled search section, an unreportable metric, a storage that cannot be opened: exit 2, nothing
    written."""
    recipe = tiny_recipe(extra)
    code, _, err = run_cli(capsys, "tune", recipe, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (recipe.parent / "runs").exists()


class PruneTrial(optuna.pruners.BasePruner):
    """Prunes the trial with one number, at its first report."""

    def __init__(self, number: int) -> None:
        self.number = number

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == self.number


def test_a_study_writes_trial_runs_a_table_plots_and_a_best_recipe(capsys, monkeypatch, tiny_recipe, tmp_path):
    """Three trials are three run directories (one pruned); the best recipe is complete and validates; resuming has
    nothing to do."""
    monkeypatch.setattr(optuna.pruners, "MedianPruner", lambda: PruneTrial(1))
    recipe = tiny_recipe(SEARCH)
    code, out, err = run_cli(capsys, "tune", recipe, *FAST)
    directory = tmp_path / "runs" / "tiny" / "tune_0"
    assert code == 0, err
    reasons = [json.loads((directory / f"trial_{n}" / "run.json").read_text())["stop_reason"] for n in range(3)]
    assert reasons[0] is None is reasons[2] and reasons[1].startswith("pruned by Optuna after epoch 1 (val_loss ")
    assert "study 'tiny': 3 trials (2 complete, 1 pruned), minimize val_loss" in out and "best: trial" in out
    rows = [line.replace("┃", " ").replace("│", " ").split() for line in out.splitlines()]
    header = next(row for row in rows if row[:2] == ["trial", "state"])
    assert header[2:] == ["val_loss", "optimizer.args.learning_rate"]  # whole through a pipe
    assert (directory / HISTORY_PNG).stat().st_size > 0 and (directory / IMPORTANCE_PNG).stat().st_size > 0
    trials = study_trials(f"sqlite:///{directory / 'study.db'}")
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    text = (directory / BEST_RECIPE).read_text()
    assert (
        f"trial {best.number}" in text.splitlines()[0]
        and f"learning_rate: {best.params['optimizer.args.learning_rate']}" in text
    )
    assert "search" not in text and "tune_trial" not in text
    assert run_cli(capsys, "validate", directory / BEST_RECIPE)[0] == 0
    code, out, _ = run_cli(capsys, "tune", "--resume", directory)
    assert code == 0 and "nothing to do: study 'tiny' has run its 3 planned trials" in out


def test_a_study_refuses_trials_of_another_recipe(capsys, tiny_recipe, tmp_path):
    """A second sweep on the same --storage and study with another model and epochs (same search) is refused, naming
    each difference; one differing only in where runs go joins it."""
    recipe = tiny_recipe(SEARCH)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = [*FAST, "--trials", 1, "--storage", url]
    assert run_cli(capsys, "tune", recipe, *first, "--output", tmp_path / "a")[0] == 0
    other = [*first, "--set", "model={name: mlp, args: {units: [64, 64]}}", "--set", "training.epochs=2"]
    code, _, err = run_cli(capsys, "tune", recipe, *other, "--output", tmp_path / "b")
    assert code == 2, err
    assert (
        "study 'tiny' in " in err
        and "was made for another recipe: `model.args.units.0` is 64 here, 8 in the study" in err
    )
    assert "`model.args.units.1` is 64 here, null in the study; `training.epochs` is 2 here, 1 in the study" in err
    assert not (tmp_path / "b").exists()
    elsewhere = [*first, "--set", f"training.output_dir={tmp_path / 'elsewhere'}"]
    assert run_cli(capsys, "tune", recipe, *elsewhere, "--output", tmp_path / "c")[0] == 0
    assert len(study_trials(url)) == 2


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_resumes_without_repeating_trials(capsys, tiny_recipe, tmp_path):
    """SIGKILL during the second of 2 trials: --resume marks it FAIL and runs its values again as trial 2; trial 0 is
    not repeated."""
    directory = tmp_path / "sweep"
    process = tapeline("tune", tiny_recipe(SEARCH), *FAST, "--trials", 2, "--output", directory)
    deadline = time.monotonic() + 120
    while not (directory / "trial_1").is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    finished = (directory / "trial_0" / "run.json").stat().st_mtime_ns
    code, out, err = run_cli(capsys, "tune", "--resume", directory)
    assert code == 0, err
    assert "trial 1 did not finish; its values are queued again" in out and "1 of 2 planned trials to run" in out
    trials = study_trials(f"sqlite:///{directory / 'study.db'}")
    states = {t.number: t.state.name for t in trials}
    assert states == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE"}
    assert trials[2].params == trials[1].params != trials[0].params and trials[2].user_attrs["retry_of"] == 1
    assert (directory / "trial_0" / "run.json").stat().st_mtime_ns == finished  # trial 0 was not run again


@pytest.mark.slow
def test_two_processes_on_one_storage_share_one_study(capsys, tiny_recipe, tmp_path):
    """This process and another, each `tapeline tune --trials 2` on one --storage URL at once, run 4 trials of one
    study."""
    recipe, url = tiny_recipe(SEARCH), f"sqlite:///{tmp_path / 'shared.db'}"
    other = tapeline("tune", recipe, *FAST, "--trials", 2, "--storage", url, "--output", tmp_path / "a")
    started = next((line for line in other.stdout if "planned trials to run" in line), "")
    code, _, err = run_cli(capsys, "tune", recipe, *FAST, "--trials", 2, "--storage", url, "--output", tmp_path / "b")
    output = started + other.communicate(timeout=240)[0]
    assert code == 0 and other.returncode == 0, err + output
    trials = study_trials(url)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3] and all(t.state.name == "COMPLETE" for t in trials)
    made = sorted(p.name for name in ("a", "b") for p in (tmp_path / name).glob("trial_*"))
    assert made == ["trial_0", "trial_1", "trial_2", "trial_3"]
