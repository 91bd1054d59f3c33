"""Tests for `distribute.launcher: ray`: a local Ray cluster trains like workers started by hand, and restarts a killed
worker from the run's saved state."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import HERE, SPREAD, finish_workers, run_weights, start_workers, tapeline, write_recipe

from framework.cli import main
from framework.recipe.loader import load_recipe

RECIPE = """\
training: {{epochs: 3, batch_size: 16, deterministic: true, checkpoint_every: 2}}
distribute: {distribute}
plugins: [{{name: console, args: {{mode: lines}}}}{plugins}]
"""
RAY = "{strategy: multi_worker, launcher: ray, workers: 2, ray: {max_failures: 1}}"


def recipe_file(folder: Path, distribute: str, plugins: str = "") -> Path:
    return write_recipe(folder, SPREAD + RECIPE.format(distribute=distribute, plugins=plugins))


def ray_train(recipe: Path, output: Path) -> subprocess.CompletedProcess:
    """``tapeline train RECIPE --output OUTPUT`` in a process of its own (it starts and stops a local Ray cluster)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "RAY_ADDRESS")}
    return subprocess.run(
        tapeline("train", str(recipe), "--output", str(output)),
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_ray_workers_match_workers_started_by_hand_and_survive_a_killed_worker(tmp_path):
    """Two Ray workers of one CPU each end with the weights of two `--workers` processes; SIGKILL to Ray's worker 1
    after batch 2 of epoch 2 makes Ray restart both, the run resumes from its state saved at step 2 of that epoch
    and completes with the same weights."""
    pytest.importorskip("ray.train")
    by_hand = tmp_path / "by_hand"
    recipe = recipe_file(by_hand, "{strategy: multi_worker}")
    finish_workers(start_workers(recipe, by_hand / "run", tmp_path / "tmp", [[], []]))
    on_ray = ray_train(recipe_file(tmp_path / "ray", RAY), tmp_path / "ray" / "run")
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert f"run saved to {tmp_path / 'ray' / 'run'}" in on_ray.stdout
    for got, want in zip(run_weights(tmp_path / "ray" / "run"), run_weights(by_hand / "run"), strict=True):
        np.testing.assert_array_equal(got, want)

    marker = tmp_path / "killed"
    kill = f", {{name: 'plugin_helpers:KillWorkerAt', args: {{worker: 1, epoch: 1, batch: 2, marker: '{marker}'}}}}"
    killed = ray_train(recipe_file(tmp_path / "killed_run", RAY, kill), tmp_path / "killed_run" / "run")
    assert killed.returncode == 0, killed.stderr[-3000:]
    assert marker.exists()  # worker 1 was killed once
    run = tmp_path / "killed_run" / "run"
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    assert [row["epoch"] for row in json.loads((run / "history.json").read_text())] == [1, 2, 3]
    assert "from its state saved after 1 epoch(s) and 2 step(s) of epoch 2" in killed.stdout
    for got, want in zip(run_weights(run), run_weights(by_hand / "run"), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_an_error_on_one_ray_worker_ends_the_run_with_that_error(tmp_path):
    """A plugin failing on worker 1 alone at epoch 1's end ends both workers (no hang, no retry): the driver exits 1
    with worker 1's error."""
    pytest.importorskip("ray.train")
    fail = ", {name: 'plugin_helpers:FailOnWorker', args: {worker: 1, epoch: 0}}"
    done = ray_train(recipe_file(tmp_path, RAY, fail), tmp_path / "run")
    assert done.returncode == 1, done.stderr[-3000:]
    assert (
        "tapeline: error: worker 1: plugin 'plugin_helpers:FailOnWorker' failed in on_epoch_end: RuntimeError: worker "
        "1 fails" in done.stderr
    )
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_a_ray_recipe_names_what_it_lacks(tiny_recipe, capsys):
    """`launcher: ray` without multi_worker or workers, and workers without a launcher, are recipe errors at their
    lines."""
    file = tiny_recipe()
    assert main(["validate", str(file), "--set", "distribute.launcher=ray"]) == 2
    err = capsys.readouterr().err
    assert "`distribute.launcher: ray` needs `distribute.strategy: multi_worker` (got 'default')" in err
    assert "`distribute.launcher: ray` needs `distribute.workers`, the number of workers to start (got null)" in err
    assert main(["validate", str(file), "--set", "distribute.workers=2"]) == 2
    assert "`distribute.workers: 2` needs `distribute.launcher: ray`" in capsys.readouterr().err


def test_ray_settings_without_the_launcher_and_cluster_flags_with_it_are_refused(tiny_recipe, capsys):
    """`distribute.ray` without `launcher: ray` is a recipe error; --workers with a Ray recipe is refused (exit 2)."""
    file = tiny_recipe()
    assert main(["validate", str(file), "--set", "distribute.ray.max_failures=5"]) == 2
    assert "`distribute.ray` is set, but is read only with `distribute.launcher: ray`" in capsys.readouterr().err
    ray = ["--set", "distribute.strategy=multi_worker", "--set", "distribute.launcher=ray"]
    assert (
        main(["train", str(file), *ray, "--set", "distribute.workers=2", "--workers", "localhost:1,localhost:2"]) == 2
    )
    assert "--workers and --worker-index cannot be given with `distribute.launcher: ray`" in capsys.readouterr().err


def test_without_ray_the_recipe_names_the_extra(tiny_recipe, capsys, monkeypatch):
    """Where Ray is not installed, validate and train say which extra to install (exit 2), before starting anything."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    ray = [
        "--set",
        "distribute.strategy=multi_worker",
        "--set",
        "distribute.launcher=ray",
        "--set",
        "distribute.workers=2",
    ]
    assert main(["validate", str(tiny_recipe()), *ray]) == 2
    err = capsys.readouterr().err
    assert "--set distribute.launcher=ray: `distribute.launcher: ray` needs 'ray[train]'" in err
    assert "install -e '.[ray]'" in err


def test_the_chiefs_error_keeps_its_exit_code(tiny_recipe, monkeypatch, tmp_path):
    """A worker's outcome with an error is raised by the driver with the worker's exit code (0: nothing to do)."""
    from framework.errors import NothingToDo
    from framework.training import ray_launcher

    class FakeRay:
        def shutdown(self) -> None:
            pass

    monkeypatch.setattr(ray_launcher, "import_ray", FakeRay)
    monkeypatch.setattr(ray_launcher, "start_ray", lambda ray, section: None)
    monkeypatch.setattr(ray_launcher, "check_resumable", lambda recipe, directory: None)
    for outcome, error in (
        ({"error": "bad data", "exit_code": 2}, ray_launcher.WorkerFailed),
        ({"error": "done", "exit_code": 0}, NothingToDo),
    ):
        monkeypatch.setattr(ray_launcher, "fit_on_ray", lambda *args, outcome=outcome: outcome)
        with pytest.raises(error, match=outcome["error"]) as raised:
            ray_launcher.launch(load_recipe(tiny_recipe()), tmp_path, overwrite=False, resume=True)
        assert raised.value.exit_code == outcome["exit_code"]
