"""Tests for the run's layout: SIGTERM under multi_worker saves at one step, and --resume on another worker count
keeps the global batch and order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import HERE, SPREAD, finish_workers, run_weights, start_workers, tapeline, write_recipe

from framework.errors import TapelineError
from framework.training.layout import check_layout, layout_of, per_replica_batch
from framework.training.state import read_progress

RECIPE = """\
training: {{epochs: 3, batch_size: {batch_size}, deterministic: true}}
distribute: {{strategy: {strategy}}}
plugins: [{{name: console, args: {{mode: lines}}}}, 'plugin_helpers:TerminateAt']
"""
# Resumed on another number of replicas, the all-reduce adds the gradients in another order: float32 rounding.
# Measured after 3 epochs (24 steps): weights within 3.0e-8, history values within 8.2e-8 relative.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def recipe_file(folder: Path, batch_size: int, strategy: str) -> Path:
    return write_recipe(folder, SPREAD + RECIPE.format(batch_size=batch_size, strategy=strategy))


def history(run: Path) -> list[dict[str, float]]:
    return json.loads((run / "history.json").read_text())


def one_process(*args: str, term_at: str = "") -> subprocess.CompletedProcess:
    """``tapeline train`` with `args` in one process, sending itself SIGTERM at `term_at` (``"E:B"``) if given."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TERM_AT")}
    return subprocess.run(
        tapeline("train", *args),
        cwd=HERE,
        env=env | ({"TERM_AT": term_at} if term_at else {}),
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_same_run(got: Path, want: Path, exact: bool) -> None:
    got_history, want_history = history(got), history(want)
    assert [row["epoch"] for row in got_history] == [row["epoch"] for row in want_history]
    for got_row, want_row in zip(got_history, want_history, strict=True):
        for key, value in want_row.items():
            if exact:
                assert got_row[key] == value, key
            else:
                assert got_row[key] == pytest.approx(value, rel=TOLERANCE["rtol"]), key
    for got_weights, want_weights in zip(run_weights(got), run_weights(want), strict=True):
        if exact:
            np.testing.assert_array_equal(got_weights, want_weights)
        else:
            np.testing.assert_allclose(got_weights, want_weights, **TOLERANCE)


@pytest.mark.slow
def test_sigterm_on_one_worker_saves_both_at_one_step_and_resumes_on_two_or_one(tmp_path):
    """SIGTERM to worker 1 after batch 2 of epoch 2: both workers save at step 4 and exit 143; resumed on two workers
    the run ends bit-identical to the uninterrupted one, resumed as one process within float32 rounding of it."""
    recipe = recipe_file(tmp_path, 16, "multi_worker")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    finish_workers(start_workers(recipe, whole, tmp_path / "tmp-whole", [[], []]))
    outputs = finish_workers(
        start_workers(recipe, cut, tmp_path / "tmp-cut", [[], []], envs=[{}, {"TERM_AT": "1:2"}]), code=143
    )
    for _, err in outputs:
        assert "preempted by SIGTERM in epoch 2 after 4 step(s) of it" in err
    progress = read_progress(cut)
    assert (progress["epochs_done"], progress["steps_done"]) == (1, 4)
    assert progress["layout"] == {"replicas": 2, "global_batch_size": 32, "file_shards": 1}
    assert json.loads((cut / "run.json").read_text())["status"] == "preempted"
    copy = tmp_path / "copy"
    shutil.copytree(cut, copy)
    finish_workers(start_workers(None, cut, tmp_path / "tmp-resume", [[], []]))
    assert_same_run(cut, whole, exact=True)
    alone = one_process("--resume", str(copy), "--set", "distribute.strategy=default")
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "resumed on 1 replica(s) instead of 2: the run's global batch of 32 is kept (32 per replica)" in alone.stdout
    assert_same_run(copy, whole, exact=False)


@pytest.mark.slow
def test_one_process_preempted_resumes_on_two_workers(tmp_path):
    """A one-process run with batch 32 preempted after batch 2 of epoch 2, resumed on two workers (16 per replica),
    ends within float32 rounding of the uninterrupted one-process run."""
    recipe = recipe_file(tmp_path, 32, "default")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = one_process(str(recipe), "--output", str(whole))
    assert done.returncode == 0, done.stderr[-3000:]
    assert one_process(str(recipe), "--output", str(cut), term_at="1:2").returncode == 143
    assert read_progress(cut)["steps_done"] == 3
    outputs = finish_workers(
        start_workers(None, cut, tmp_path / "tmp", [["--set", "distribute.strategy=multi_worker"]] * 2)
    )
    resumed = "resumed on 2 replica(s) instead of 1: the run's global batch of 32 is kept (16 per replica)"
    assert resumed in outputs[0][0]
    assert_same_run(cut, whole, exact=False)


def test_a_global_batch_that_does_not_divide_is_refused():
    """32 samples a step cannot be shared by 3 replicas: the message lists the replica counts that fit."""
    assert per_replica_batch(16, 2, None) == 16 and per_replica_batch(16, 1, 32) == 32
    with pytest.raises(TapelineError, match=r"global batch of 32 samples does not divide by 3; resume on 1, 2, 4, 8"):
        per_replica_batch(16, 3, 32)


def test_file_sharded_runs_keep_their_worker_count():
    """A run whose 2 workers read their own files cannot resume on 1; one reading all files may."""
    with pytest.raises(TapelineError, match=r"the run's 2 worker\(s\) read their own training files"):
        check_layout(layout_of(2, 32, 2), layout_of(1, 32, 1))
    assert check_layout(layout_of(2, 32, 1), layout_of(2, 32, 1)) is None
    assert check_layout(None, layout_of(2, 32, 1)) is None  # a state saved before layouts were


def test_a_state_without_a_layout_keeps_its_distribute_section(tiny_recipe, tmp_path):
    """A state saved before layouts were recorded cannot resume with another `distribute` section (its global batch
    is unknown); with its own it can."""
    from framework.recipe.loader import load_recipe
    from framework.training.lifecycle import train
    from framework.training.state import PROGRESS, state_folder

    run = train(load_recipe(tiny_recipe(), ["training.epochs=1"]), tmp_path / "run")
    progress_file = state_folder(run.directory) / PROGRESS
    progress_file.write_text(
        json.dumps({k: v for k, v in json.loads(progress_file.read_text()).items() if k != "layout"})
    )
    recipe = load_recipe(run.directory / "recipe.yaml", ["training.epochs=2", "distribute.strategy=mirrored"])
    with pytest.raises(
        TapelineError, match="cannot resume with another `distribute` section: the run's state was saved by an older"
    ):
        train(recipe, run.directory, resume=True)
    assert (
        len(
            train(load_recipe(run.directory / "recipe.yaml", ["training.epochs=2"]), run.directory, resume=True).history
        )
        == 2
    )
