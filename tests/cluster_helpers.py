"""Helpers for tests that start several ``tapeline`` processes: free ports, localhost workers, SLURM job steps."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).parent
# The data, network and optimizer of the cluster tests' recipes: 245 samples, so that in global batches of 32 an
# epoch has 8 steps, the last of 21 samples split 11 + 10 on two replicas. The test adds training, distribute, plugins.
SPREAD = """\
name: spread
seed: 11
dataset: {name: synthetic, args: {num_train: 245, num_test: 300, shape: [8, 8], num_classes: 4}}
model: {name: mlp, args: {units: [16]}}
optimizer: {name: adam, args: {learning_rate: 0.01}}
"""


def tapeline(*args: str) -> list[str]:
    """The command line running ``tapeline`` with `args` in this Python."""
    return [sys.executable, "-m", "framework", *args]


def free_ports(count: int) -> list[int]:
    """`count` ports free on localhost now."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive free ports on localhost."""
    while True:
        first = free_ports(1)[0]
        try:
            sockets = [socket.create_server(("localhost", first + i)) for i in range(count)]
        except OSError:
            continue
        for s in sockets:
            s.close()
        return first


def slurm_step(procid: int, tasks: int) -> dict[str, str]:
    """The variables srun sets for task `procid` of a job step of `tasks` tasks on one node, localhost."""
    return {
        "SLURM_PROCID": str(procid),
        "SLURM_STEP_NUM_TASKS": str(tasks),
        "SLURM_STEP_NODELIST": "localhost",
        "SLURM_STEP_TASKS_PER_NODE": str(tasks),
    }


def start_workers(
    recipe: Path | None,
    output: Path,
    scratch: Path,
    extra: list[list[str]],
    slurm: bool = False,
    envs: list[dict[str, str]] | None = None,
) -> list[subprocess.Popen]:
    """Starts training `recipe` on one localhost worker per entry of `extra` (that worker's own extra arguments, and
    its own variables from `envs`), temporary files in `scratch`: told their cluster by --workers, or with `slurm` by
    the variables of a SLURM job step (no TF_CONFIG, no --workers). Without `recipe`, they resume `output`."""
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TERM_AT") and not k.startswith("SLURM_")}
    env["TMPDIR"] = str(scratch)
    if slurm:
        places = [["--set", f"distribute.port_base={consecutive_free_ports(len(extra))}"]] * len(extra)
    else:
        workers = ",".join(f"localhost:{port}" for port in free_ports(len(extra)))
        places = [["--workers", workers, "--worker-index", str(index)] for index in range(len(extra))]
    return [
        subprocess.Popen(
            tapeline(
                "train",
                *([str(recipe), "--output", str(output)] if recipe else ["--resume", str(output)]),
                *places[index],
                *arguments,
            ),
            cwd=HERE,
            env={**env, **(slurm_step(index, len(extra)) if slurm else {}), **(envs[index] if envs else {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, arguments in enumerate(extra)
    ]


def finish_workers(processes: list[subprocess.Popen], timeout: float = 300, code: int = 0) -> list[tuple[str, str]]:
    """The workers' (stdout, stderr) once they end, checked to exit with `code` (all are killed after `timeout`
    seconds)."""
    try:
        outputs = [p.communicate(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == code, err[-3000:]
    if code == 0:
        assert "worker 1 done; the chief writes the run" in outputs[1][0]
    return outputs


def write_recipe(folder: Path, text: str) -> Path:
    """`text` as ``<folder>/recipe.yaml`` (the folder made if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(text)
    return path


def run_weights(run: Path) -> list[np.ndarray]:
    """The arrays of the run directory's ``model.weights.h5``, in file order."""
    arrays: list[np.ndarray] = []
    with h5py.File(run / "model.weights.h5") as file:
        file.visititems(lambda _, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays
