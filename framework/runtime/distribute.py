"""TensorFlow distribution strategies chosen by a recipe's ``distribute:`` section, and their cluster.

One process trains on one worker. ``default`` is TensorFlow's default strategy (one device);
``mirrored`` keeps a copy of the variables on each local device and all-reduces gradients;
``multi_worker`` does the same across the processes of a cluster described by ``TF_CONFIG``
(or by ``tapeline train --workers ... --worker-index N``, or by the SLURM job step a process runs
in under ``srun``: both write ``TF_CONFIG``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from framework.errors import TapelineError
from framework.runtime.cluster import join_cluster
from framework.runtime.compat import in_multi_worker_mode

COMMUNICATION = {
    "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
    "ring": tf.distribute.experimental.CommunicationImplementation.RING,
    "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
}


ADDRESS = re.compile(r"^[\w.\-\[\]:]+:\d{1,5}$")


def set_cluster(workers: str, index: int) -> None:
    """Writes ``TF_CONFIG`` for worker `index` of `workers` (``host:port,host:port``)."""
    addresses = [a.strip() for a in workers.split(",")]
    bad = [a for a in addresses if not ADDRESS.match(a)]
    if bad:
        raise TapelineError(f"--workers must list host:port addresses separated by commas (got {bad[0]!r})")
    if not 0 <= index < len(addresses):
        raise TapelineError(
            f"--worker-index must be from 0 to {len(addresses) - 1} for {len(addresses)} workers (got {index})"
        )
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def in_slurm_step() -> bool:
    """Whether this process is a task of a SLURM job step (``srun``) whose cluster can be read from the environment."""
    return all(f"SLURM_{name}" in os.environ for name in ("PROCID", "STEP_NUM_TASKS", "STEP_NODELIST"))


def set_slurm_cluster(port_base: int) -> None:
    """Writes ``TF_CONFIG`` for this task of the SLURM job step, as TensorFlow's `SlurmClusterResolver` reads it.

    The resolver takes the tasks from ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``,
    ``SLURM_STEP_NODELIST`` (e.g. ``node[01-04]``) and ``SLURM_STEP_TASKS_PER_NODE`` (``2(x4)``);
    a node's tasks listen on `port_base`, `port_base` + 1 ... On a node with GPUs (``nvidia-smi``)
    it also gives each task its share of them through ``CUDA_VISIBLE_DEVICES``; on CPU nodes its
    GPU bookkeeping is given one pseudo device per task and ``CUDA_VISIBLE_DEVICES`` is left alone.

    Raises:
        TapelineError: the SLURM variables do not describe this task (a malformed node or task list).
    """
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    try:
        if shutil.which("nvidia-smi") or os.environ.get("CUDA_VISIBLE_DEVICES"):
            found = resolver(port_base=port_base)
        else:
            tasks = int(os.environ["SLURM_STEP_NUM_TASKS"])
            found = resolver(port_base=port_base, gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False)
        cluster = found.cluster_spec().as_dict()
    except (RuntimeError, ValueError, KeyError) as error:
        slurm = {k: v for k, v in sorted(os.environ.items()) if k.startswith("SLURM_STEP") or k == "SLURM_PROCID"}
        raise TapelineError(f"the SLURM job step's tasks cannot be read ({error}); its variables: {slurm}") from None
    task = {"type": found.task_type, "index": found.task_id}
    os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})


def check_tf_config() -> None:
    """`TapelineError` when the ``TF_CONFIG`` environment variable is set but is not a cluster description."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise TapelineError(f"environment variable TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("cluster"), dict)
        or not isinstance(config.get("task"), dict)
    ):
        raise TapelineError(
            f"environment variable TF_CONFIG must be a JSON object with 'cluster' and 'task' objects (got {text!r})"
        )


def split_cpu(count: int) -> None:
    """Splits the first CPU into `count` logical devices (must happen before TensorFlow starts)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * count
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise TapelineError(
                f"`distribute.cpu_devices: {count}` cannot be applied: TensorFlow has already started in this "
                "process with another device layout (run it in a fresh process, e.g. the tapeline command)"
            ) from None


def mirrored_devices(devices: list[str] | None) -> list[str]:
    """`devices`, else every GPU, else every logical CPU."""
    if devices:
        return devices
    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in gpus or tf.config.list_logical_devices("CPU")]


def make_strategy(
    strategy: str, devices: list[str] | None, communication: str, worker_timeout: float = 1800.0, port_base: int = 8888
) -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` named `strategy`, or `TapelineError` if it cannot run here.

    ``multi_worker`` waits up to `worker_timeout` seconds for the cluster's other tasks
    (`framework.runtime.cluster.join_cluster`: it names those awaited, Ctrl-C ends the wait, and
    after the timeout the process exits 1). Without ``TF_CONFIG``, a task of a SLURM job step gets
    its cluster from SLURM (`set_slurm_cluster`, its tasks on `port_base` and up).
    """
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        try:
            return tf.distribute.MirroredStrategy(mirrored_devices(devices))
        except (ValueError, RuntimeError) as error:
            raise TapelineError(f"`distribute.devices` {devices!r} cannot be mirrored: {error}") from None
    if strategy == "multi_worker":
        if not os.environ.get("TF_CONFIG") and in_slurm_step():
            set_slurm_cluster(port_base)
        check_tf_config()
        options = tf.distribute.experimental.CommunicationOptions(implementation=COMMUNICATION[communication])
        return join_cluster(
            lambda: tf.distribute.MultiWorkerMirroredStrategy(communication_options=options), worker_timeout
        )
    if strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise TapelineError(f"`distribute.strategy: tpu` is not available here: no TPU found ({error})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise TapelineError(
        "`distribute.strategy: parameter_server` is not available: Keras 3's fit cannot drive "
        "tf.distribute.ParameterServerStrategy (it needs a ClusterCoordinator); use multi_worker"
    )


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans several worker processes (Keras's own test for it)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and in_multi_worker_mode(strategy)


class Worker(NamedTuple):
    """A process's place in a cluster: its task index, and whether it is the chief (writes the run directory)."""

    index: int
    is_chief: bool


def worker_role(strategy: tf.distribute.Strategy) -> Worker:
    """This worker's place: the chief is task 'chief', or worker 0 in a cluster without one; `Worker(0, True)` on one
    machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not is_multi_worker(strategy):
        return Worker(0, True)
    index = resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return Worker(
        index, resolver.task_type == "chief" or (resolver.task_type == "worker" and index == 0 and not has_chief)
    )


def worker_place(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's position among the cluster's workers, the chief first; their number); (0, 1) on one worker.

    The position is TensorFlow's own (``multi_worker_util.id_in_cluster``): the chief is 0 and
    worker N is N, or N + 1 in a cluster that has a chief task.
    """
    if not is_multi_worker(strategy):
        return 0, 1
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", []))
    index = 0 if resolver.task_type == "chief" else chiefs + (resolver.task_id or 0)
    return index, chiefs + len(jobs.get("worker", []))


def gather_from_workers(strategy: tf.distribute.Strategy, values: list[int]) -> np.ndarray:
    """Every replica's `values`: an int64 array of shape (replicas, len(values)), rows in replica
    order (worker by worker); this worker's own row alone on one worker. Every worker must call
    this at the same point, with as many values."""
    if not is_multi_worker(strategy):
        return np.array([values], np.int64)
    return gather_rows(strategy, tf.constant([values], tf.int64)).numpy()


@tf.function
def gather_rows(strategy: tf.distribute.Strategy, row: tf.Tensor) -> tf.Tensor:
    """`row` (shape (1, k)) of every replica, stacked (compiled: collectives run eagerly are slow)."""
    return strategy.gather(strategy.run(tf.identity, args=(row,)), axis=0)


def any_worker(strategy: tf.distribute.Strategy, flag: bool) -> bool:
    """Whether `flag` is true on any worker (every worker must call this at the same point)."""
    if not is_multi_worker(strategy):
        return flag
    return bool(count_votes(strategy, tf.constant(float(flag))) > 0)


@tf.function
def count_votes(strategy: tf.distribute.Strategy, vote: tf.Tensor) -> tf.Tensor:
    """The sum of `vote` over all replicas (compiled: collectives run eagerly are slow)."""
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(vote,)), axis=None)
