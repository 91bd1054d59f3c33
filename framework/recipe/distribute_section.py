"""The recipe's ``distribute:`` section: the `tf.distribute` strategy, its devices, and what starts its workers."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from framework.extras import needs_extra
from framework.recipe.schema import spec


@dataclass
class RaySection:
    """Where and how `launcher: ray` runs the workers (Ray Train's ``TensorflowTrainer``; docs/distributed.md)."""

    address: str | None = field(
        default=None,
        metadata=spec("The Ray cluster to join, e.g. 'ray://head:10001' or 'auto'; null: start one on this machine."),
    )
    cpus_per_worker: float = field(
        default=1.0,
        metadata=spec(
            "CPU cores Ray reserves for each worker (Ray's ScalingConfig resources_per_worker).",
            expect="a positive number",
            valid=lambda v: v > 0,
        ),
    )
    gpus_per_worker: float = field(
        default=0.0,
        metadata=spec("GPUs Ray gives each worker (0: CPU only).", expect="a number >= 0", valid=lambda v: v >= 0),
    )
    max_failures: int = field(
        default=3,
        metadata=spec(
            "How many times Ray restarts the worker group after a worker fails; each restart resumes from the "
            "run's last saved state (Ray's FailureConfig; -1: without limit).",
            expect="an integer >= -1",
            valid=lambda v: v >= -1,
        ),
    )


@dataclass
class DistributeSection:
    """Where training runs: a `tf.distribute` strategy and its devices (see docs/distributed.md).

    `training.batch_size` is per replica; each step takes batch_size × replicas samples.
    """

    strategy: Literal["default", "mirrored", "multi_worker", "parameter_server", "tpu"] = field(
        default="default",
        metadata=spec(
            "'default' (one device), 'mirrored' (the devices of this machine), 'multi_worker' (a cluster from "
            "TF_CONFIG, --workers, or the SLURM job step it runs in under srun)."
        ),
    )
    devices: list[str] | None = field(
        default=None,
        metadata=spec("Devices for 'mirrored', e.g. ['/gpu:0', '/gpu:1']; null: every GPU, else every logical CPU."),
    )
    cpu_devices: int | None = field(
        default=None,
        metadata=spec(
            "Split the CPU into N logical devices before TensorFlow starts (to try 'mirrored' without GPUs).",
            expect="a positive integer or null",
            valid=lambda v: v is None or v > 0,
        ),
    )
    communication: Literal["auto", "ring", "nccl"] = field(
        default="auto",
        metadata=spec("Collective implementation between the workers of 'multi_worker' (nccl: GPUs only)."),
    )
    worker_timeout: float = field(
        default=1800.0,
        metadata=spec(
            "Seconds 'multi_worker' waits at start for every worker of the cluster, naming those it waits for, "
            "before it gives up (1800: torch.distributed's default process-group timeout).",
            expect="a positive number of seconds",
            valid=lambda v: v > 0,
        ),
    )
    port_base: int = field(
        default=8888,
        metadata=spec(
            "Under srun without TF_CONFIG: the port of a node's first 'multi_worker' task; its next tasks take the "
            "ports after it (TensorFlow's SlurmClusterResolver).",
            expect="a port number from 1024 to 65535",
            valid=lambda v: 1024 <= v <= 65535,
        ),
    )
    launcher: Literal["ray"] | None = field(
        default=None,
        metadata=spec(
            "What starts the 'multi_worker' workers: null (you, SLURM or Kubernetes, each with its TF_CONFIG) or "
            "'ray' (one `tapeline train` starts `workers` workers on a Ray cluster and restarts them on failure; "
            "extra `ray`)."
        ),
    )
    workers: int | None = field(
        default=None,
        metadata=spec(
            "The number of workers the launcher starts (needs `launcher`).",
            expect="a positive integer or null",
            valid=lambda v: v is None or v > 0,
        ),
    )
    ray: RaySection = field(default_factory=lambda: RaySection(), metadata=spec("Ray settings for `launcher: ray`."))


def launcher_problems(section: DistributeSection) -> list[tuple[tuple[str, str], str]]:
    """The (dotted path, message) of each setting of `section` that contradicts its launcher."""
    problems = []
    if section.launcher is not None and section.strategy != "multi_worker":
        problems.append(
            (
                ("distribute", "strategy"),
                f"`distribute.launcher: {section.launcher}` needs `distribute.strategy: multi_worker` "
                f"(got {section.strategy!r})",
            )
        )
    if section.launcher is not None and section.workers is None:
        problems.append(
            (
                ("distribute", "workers"),
                f"`distribute.launcher: {section.launcher}` needs `distribute.workers`, the number of workers to "
                "start (got null)",
            )
        )
    if section.launcher is None and section.ray != RaySection():
        problems.append(
            (
                ("distribute", "ray"),
                "`distribute.ray` is set, but is read only with `distribute.launcher: ray` (got launcher null)",
            )
        )
    if section.launcher == "ray" and importlib.util.find_spec("ray") is None:
        problems.append((("distribute", "launcher"), needs_extra("`distribute.launcher: ray`", "ray", "'ray[train]'")))
    if section.launcher is None and section.workers is not None:
        problems.append(
            (
                ("distribute", "launcher"),
                f"`distribute.workers: {section.workers}` needs `distribute.launcher: ray` (got null: without a "
                "launcher the cluster comes from TF_CONFIG, --workers or the SLURM job step)",
            )
        )
    return problems
