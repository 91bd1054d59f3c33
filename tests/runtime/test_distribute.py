"""Tests for distributed training: mirrored and multi-worker runs in real processes, cluster settings, errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from cluster_helpers import HERE, finish_workers, slurm_step, start_workers, tapeline
from data_helpers import BLOB_SPEC, write_blobs

from framework.cli import main
from framework.errors import RecipeError, TapelineError
from framework.hooks.manager import new_plugin_manager
from framework.recipe.loader import load_recipe
from framework.runtime.distribute import make_strategy, set_cluster, split_cpu
from framework.training.run import build_data, steps_per_execution

# 245 samples: the last global batch of 21 splits unevenly (11 + 10) between two replicas;
# 900 test samples: 29 batches of 32, the last one of 4.
RECIPE = """\
name: spread
seed: 11
dataset: {{name: synthetic, args: {{num_train: 245, num_test: 900, shape: [8, 8], num_classes: 4}}}}
model: {{name: mlp, args: {{units: [16]}}}}
optimizer: {{name: adam, args: {{learning_rate: 0.01}}}}
training: {{epochs: 2, batch_size: {batch_size}, output_dir: {folder}/runs}}
distribute: {distribute}
plugins:
  - evaluation
  - {{name: checkpoint, args: {{monitor: loss}}}}
  - {{name: console, args: {{mode: lines}}}}
  - {{name: 'plugin_helpers:SaveWeights', args: {{folder: '{folder}'}}}}
"""


def write(folder: Path, batch_size: int, distribute: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(batch_size=batch_size, distribute=distribute, folder=folder))
    return recipe


def final_weights(folder: Path, worker: int = 0) -> list[np.ndarray]:
    arrays: list[np.ndarray] = []
    with h5py.File(folder / f"worker{worker}.weights.h5") as file:
        file.visititems(lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def evaluation_of(folder: Path, name: str = "spread") -> tuple[float, float]:
    evaluation = json.loads(next((folder / "runs").glob(f"{name}/version_*/evaluation.json")).read_text())
    return evaluation["loss"], evaluation["accuracy"]


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-process run with batch 32, the global batch of the distributed runs."""
    folder = tmp_path_factory.mktemp("single")
    subprocess.run(
        tapeline("train", str(write(folder, 32, "{strategy: default}"))),
        cwd=HERE,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def assert_matches(folder: Path, reference: Path, worker: int = 0) -> None:
    for got, want in zip(final_weights(folder, worker), final_weights(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(single, tmp_path):
    """mirrored over 2 logical CPUs (16 per replica) trains and evaluates like one device with batch 32."""
    recipe = write(tmp_path, 16, "{strategy: mirrored, cpu_devices: 2}")
    done = subprocess.run(tapeline("train", str(recipe)), cwd=HERE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mirrored: 2 replicas; global batch 32 = 16 per replica × 2" in done.stdout
    assert_matches(tmp_path, single)
    assert evaluation_of(tmp_path) == pytest.approx(evaluation_of(single), abs=1e-5)
    summary = json.loads(next((tmp_path / "runs").glob("spread/version_*/run.json")).read_text())
    assert (summary["replicas"], summary["global_batch_size"], summary["global_eval_batch_size"]) == (2, 32, 32)


@pytest.mark.slow
def test_two_workers_train_identical_weights_matching_one_process(single, tmp_path):
    """Two multi_worker processes on localhost end with identical weights, equal to one process on the same global
    batch."""
    recipe = write(tmp_path, 16, "{strategy: multi_worker}")
    scratch = tmp_path / "tmp"
    finish_workers(start_workers(recipe, tmp_path / "runs/spread/version_0", scratch, [[], []]))
    for got, want in zip(final_weights(tmp_path, 0), final_weights(tmp_path, 1), strict=True):
        np.testing.assert_array_equal(got, want)
    assert_matches(tmp_path, single)
    assert evaluation_of(tmp_path) == pytest.approx(evaluation_of(single), abs=1e-5)
    assert list(scratch.iterdir()) == []  # worker 1's temporary run directory is gone


@pytest.mark.slow
def test_two_slurm_tasks_take_their_cluster_from_srun_and_match_one_process(single, tmp_path):
    """Two processes with a SLURM job step's variables and no TF_CONFIG or --workers form the cluster themselves
    (SlurmClusterResolver) and train like one process on the same global batch."""
    recipe = write(tmp_path, 16, "{strategy: multi_worker}")
    finish_workers(start_workers(recipe, tmp_path / "runs/spread/version_0", tmp_path / "tmp", [[], []], slurm=True))
    assert_matches(tmp_path, single)


def test_a_slurm_step_writes_tf_config_of_its_nodes_and_tasks(monkeypatch):
    """Task 1 of 4 tasks on node[01-02], 2 a node, CPU only: workers node01:9000, node01:9001, node02:9000,
    node02:9001, this task index 1, and CUDA_VISIBLE_DEVICES left alone."""
    from framework.runtime.distribute import in_slurm_step, set_slurm_cluster

    for name, value in {
        **slurm_step(1, 4),
        "SLURM_STEP_NODELIST": "node[01-02]",
        "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setenv("TF_CONFIG", "")
    assert in_slurm_step()
    set_slurm_cluster(9000)
    assert json.loads(os.environ["TF_CONFIG"]) == {
        "cluster": {"worker": ["node01:9000", "node01:9001", "node02:9000", "node02:9001"]},
        "task": {"type": "worker", "index": 1},
    }
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_a_malformed_slurm_step_is_a_clean_error(monkeypatch):
    """SLURM variables that do not describe the tasks are a TapelineError quoting them."""
    from framework.runtime.distribute import set_slurm_cluster

    for name, value in {**slurm_step(0, 2), "SLURM_STEP_TASKS_PER_NODE": "two"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(
        TapelineError, match=r"the SLURM job step's tasks cannot be read .*'SLURM_STEP_TASKS_PER_NODE': 'two'"
    ):
        set_slurm_cluster(9000)


# Worker 0 reads files 0 and 2 (80 samples), worker 1 files 1 and 3 (54): uneven shares. With 8 samples
# per worker and step, both run 7 steps per epoch (what 54 fills), training on 56 + 54 samples.
SHARD_SIZES = [40, 24, 40, 30]
SHARDED = """\
name: sharded
seed: 5
dataset: {{name: tfrecord, args: {{train: '{folder}/all/part-*.tfrecord', validation: '{folder}/test.tfrecord', test:
'{folder}/test.tfrecord', label: label, features: {spec}}}}}
model: {{name: mlp, args: {{units: [16]}}}}
optimizer: {{name: adam, args: {{learning_rate: 0.01}}}}
training: {{epochs: 5, batch_size: {batch_size}, output_dir: {output}/runs}}
distribute: {{strategy: {strategy}}}
plugins: [{{name: 'plugin_helpers:SaveWeights', args: {{folder: '{output}'}}}}]
"""


@pytest.mark.slow
def test_two_workers_read_only_their_own_tfrecord_files_and_match_one_process(tmp_path):
    """Two multi_worker workers train on their own TFRecord files only (the other's are corrupt on their disk), run
    equal steps from uneven shares, and validate like one process."""
    for k, size in enumerate(SHARD_SIZES):
        write_blobs(tmp_path / "all" / f"part-{k}.tfrecord", size, seed=k)
        for worker in range(
            2
        ):  # each worker's folder: its own files, and the other's as corrupt files of the same names
            mine = tmp_path / f"worker{worker}" / f"part-{k}.tfrecord"
            mine.parent.mkdir(exist_ok=True)
            mine.write_bytes((tmp_path / "all" / mine.name).read_bytes() if k % 2 == worker else b"not a TFRecord file")
    write_blobs(tmp_path / "test.tfrecord", 300, seed=9)

    def recipe(output: Path, batch_size: int, strategy: str) -> Path:
        output.mkdir()
        path = output / "recipe.yaml"
        path.write_text(
            SHARDED.format(
                folder=tmp_path, spec=json.dumps(BLOB_SPEC), output=output, batch_size=batch_size, strategy=strategy
            )
        )
        return path

    own_files = [[f"--set=dataset.args.train={tmp_path}/worker{index}/part-*.tfrecord"] for index in range(2)]
    processes = start_workers(
        recipe(tmp_path / "workers", 8, "multi_worker"),
        tmp_path / "workers/runs/sharded/version_0",
        tmp_path / "tmp",
        own_files,
    )
    assert main(["train", str(recipe(tmp_path / "single", 16, "default"))]) == 0  # meanwhile, one process on every file
    outputs = finish_workers(processes, timeout=240)  # a hang (workers running different steps) fails here
    for _, err in outputs:  # each worker counted its own files only: 80 and 54 samples
        assert "hold [80, 54] training samples; each epoch every worker runs 7 steps of 8" in err
    summary = json.loads(next((tmp_path / "workers/runs").glob("sharded/version_*/run.json")).read_text())
    assert summary["samples"] == {"train": 7 * 8 + 54, "validation": 300, "test": 300}
    for got, want in zip(final_weights(tmp_path / "workers", 0), final_weights(tmp_path / "workers", 1), strict=True):
        np.testing.assert_array_equal(got, want)
    # The last epoch's validation on all 300 test samples (metrics summed across the workers). The workers made
    # 35 updates on other batches than the one process's 45, so the scores are close, not equal (measured: loss
    # 0.312 and accuracy 0.880 against 0.308 and 0.873). The tolerances are what an epoch of training still
    # changes at this point (the workers' loss fell by 0.03 in their last epoch); 0.03 accuracy is 9 samples.
    workers, single = (
        json.loads(next((tmp_path / f"{folder}/runs").glob("sharded/version_*/history.json")).read_text())[-1]
        for folder in ("workers", "single")
    )
    assert single["val_accuracy"] > 0.85  # trained: chance is 1/3, the best possible about 0.9
    assert workers["val_accuracy"] == pytest.approx(single["val_accuracy"], abs=0.03)
    assert workers["val_loss"] == pytest.approx(single["val_loss"], abs=0.05)


def test_cluster_flags_write_tf_config(monkeypatch):
    """--workers/--worker-index become TF_CONFIG; bad addresses and indexes are refused."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    set_cluster("localhost:2001, 10.0.0.2:2002", 1)
    assert json.loads(os.environ["TF_CONFIG"]) == {
        "cluster": {"worker": ["localhost:2001", "10.0.0.2:2002"]},
        "task": {"type": "worker", "index": 1},
    }
    with pytest.raises(TapelineError, match=r"--workers must list host:port addresses .* \(got 'localhost'\)"):
        set_cluster("localhost,other:1", 0)
    with pytest.raises(TapelineError, match=r"--worker-index must be from 0 to 1 for 2 workers \(got 2\)"):
        set_cluster("a:1,b:2", 2)


def test_workers_flag_needs_a_multi_worker_recipe(tiny_recipe, capsys):
    """--workers with the default strategy exits 2 naming the setting."""
    assert main(["train", str(tiny_recipe()), "--workers", "localhost:1,localhost:2"]) == 2
    assert (
        "--workers needs `distribute.strategy: multi_worker` in the recipe (got 'default')" in capsys.readouterr().err
    )


def test_bad_tf_config_is_reported(tiny_recipe, monkeypatch, capsys):
    """A TF_CONFIG that is not JSON exits 2 quoting it."""
    monkeypatch.setenv("TF_CONFIG", "{cluster:")
    assert main(["validate", str(tiny_recipe("distribute: {strategy: multi_worker}\n"))]) == 2
    assert "environment variable TF_CONFIG is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ("tpu", r"`distribute.strategy: tpu` is not available here: no TPU found"),
        ("parameter_server", r"use multi_worker"),
    ],
)
def test_strategies_that_cannot_run_here_say_so(strategy, message):
    """tpu and parameter_server fail with a clear message instead of a traceback."""
    with pytest.raises(TapelineError, match=message):
        make_strategy(strategy, None, "auto")


def test_unknown_strategy_lists_the_choices(tiny_recipe):
    """A misspelled strategy is rejected with the allowed values."""
    with pytest.raises(TapelineError, match=r"`distribute.strategy` must be one of .*'mirrored'.*\(got 'mirored'\)"):
        load_recipe(tiny_recipe("distribute: {strategy: mirored}\n"))


def test_cpu_devices_cannot_change_a_started_tensorflow():
    """Asking for another logical CPU layout after TensorFlow started is a clear error."""
    keras.ops.ones(1)  # TensorFlow has started in this process
    with pytest.raises(TapelineError, match=r"`distribute.cpu_devices: 3` cannot be applied"):
        split_cpu(3)


def test_global_batch_is_per_replica_batch_times_replicas(tiny_recipe):
    """The pipelines batch by batch_size × replicas, and eval_batch_size × replicas (batch_size when not set)."""
    recipe = load_recipe(tiny_recipe())
    data = build_data(recipe, replicas=2)
    assert (data.batch_size, data.eval_batch_size) == (2 * recipe.training.batch_size,) * 2
    data = build_data(load_recipe(tiny_recipe(), ["training.eval_batch_size=7"]), replicas=2)
    assert (data.eval_batch_size, int(next(iter(data.test))[1].shape[0])) == (14, 14)


def test_several_steps_per_call_are_refused_on_several_replicas(tiny_recipe):
    """An explicit steps_per_execution above 1 with 2 replicas is a recipe error at its line; auto gives 1."""
    recipe = load_recipe(tiny_recipe("plugins: [evaluation]\n"), ["training.steps_per_execution=4"])
    with pytest.raises(
        RecipeError, match=r"`training.steps_per_execution` must be 1 or 'auto' with 2 replicas \(got 4\)"
    ):
        steps_per_execution(recipe, new_plugin_manager(), [], replicas=2)
    recipe.training.steps_per_execution = "auto"
    assert steps_per_execution(recipe, new_plugin_manager(), [], replicas=2) == 1
