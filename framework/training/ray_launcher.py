"""``distribute.launcher: ray``: one ``tapeline train`` starts the recipe's workers on a Ray cluster and restarts them
after a failure, each restart continuing from the run's own saved state.

The driver (the ``tapeline train`` process) prepares the run directory, starts a Ray cluster on
this machine (or joins ``distribute.ray.address``) and hands `worker_main` to Ray Train's
``TensorflowTrainer`` (Ray Train 2.x, https://docs.ray.io/en/latest/train/distributed-tensorflow-keras.html),
which starts ``distribute.workers`` worker processes, writes each one's ``TF_CONFIG`` (worker
*i* is Ray's world rank *i*; rank 0 is the chief and writes the run directory) and calls
`worker_main` in each. Every worker runs the same Trainer, plugins and file sharding as
workers started by hand. When a worker process dies (killed, out of memory, its machine lost),
Ray stops the whole worker group and starts it again, up to ``distribute.ray.max_failures``
times; `worker_main` then resumes the run from the state it saved last (at each epoch's end,
and every ``training.checkpoint_every``). An error inside training (bad data, a diverged
loss, a failing plugin) is returned to the driver instead of raised, so Ray does not retry
what would fail again; the driver raises it with its own exit code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from framework.errors import NothingToDo, TapelineError, TrainingFailed
from framework.extras import needs_extra
from framework.recipe.distribute_section import DistributeSection
from framework.recipe.sections import Recipe
from framework.runtime.quiet import ray_logs_filtered, show_warnings_briefly
from framework.training.run_directory import check_resumable, next_run_directory, prepare_directory
from framework.training.state import complete_state

# Ray Train's TensorFlow set-up sets TF_USE_LEGACY_KERAS=1 on every worker (ray/train/tensorflow/config.py), which
# makes tf.keras load the tf_keras package (Keras 2); Tapeline runs on Keras 3.
LEGACY_KERAS = "TF_USE_LEGACY_KERAS"
FAILURE_KEY = "tapeline/failure"  # the coordination service's key holding the first failing worker's error
FAILURE_WAIT_MS = 5_000


class WorkerFailed(TapelineError):
    """An error a Ray worker's training ended with, raised by the driver with the worker's exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def worker_main(config: dict[str, Any]) -> dict[str, Any]:
    """Trains the run on one Ray worker (Ray has set its ``TF_CONFIG``); resumes when the run has a saved state.

    Args:
        config: ``recipe`` (the `Recipe`), ``directory`` (the run directory, on a file system every worker sees),
            ``quiet`` (TensorFlow's Python log lines off and warnings as one line, as ``tapeline`` without
            ``--verbose``).

    Returns:
        ``{"stop_reason": ...}``, or ``{"error": message, "exit_code": code}`` when training ended with a
        `TapelineError` (not retried by Ray). Such an error is reported to the cluster first, so that
        the other workers' collectives stop waiting for this one and they end too.
    """
    os.environ[LEGACY_KERAS] = "0"
    if config["quiet"]:
        for name in ("tensorflow", "absl"):
            logging.getLogger(name).setLevel(logging.ERROR)
        show_warnings_briefly()
    from ray.train import get_context
    from ray.train.collective import broadcast_from_rank_zero

    from framework.training.lifecycle import saved_position, train

    directory = Path(config["directory"])
    # the chief's view of the run directory decides for all (a shared file system may show the others an older one)
    resume = broadcast_from_rank_zero(complete_state(directory) is not None)
    if resume and get_context().get_world_rank() == 0:
        print(f"tapeline: resuming '{directory}' from its state saved {saved_position(directory)}")
    try:
        run = train(config["recipe"], directory, overwrite=True, resume=resume)
    except TapelineError as error:
        return first_failure(get_context().get_world_rank(), error)
    return {"stop_reason": run.stop_reason}


def first_failure(rank: int, error: TapelineError) -> dict[str, Any]:
    """The outcome of the cluster's first failure: this worker's `error`, stored in the coordination service (unless
    another worker's came first) and reported to the cluster, so that the others' collectives stop waiting; the
    chief, whose collectives then fail, returns that first error instead of its own."""
    from framework.runtime.compat import cluster_value, report_cluster_error, set_cluster_value

    own = {"error": f"worker {rank}: {error}" if rank else str(error), "exit_code": error.exit_code}
    with contextlib.suppress(Exception):  # no cluster (it failed before joining), or another worker's error came first
        set_cluster_value(FAILURE_KEY, json.dumps(own))
        report_cluster_error(own["error"])
    try:
        return json.loads(cluster_value(FAILURE_KEY, FAILURE_WAIT_MS))
    except Exception:  # the cluster is gone: this worker's error is all there is
        return own


def launch(
    recipe: Recipe, directory: Path | None, overwrite: bool, resume: bool, quiet: bool = True
) -> tuple[Path, str | None]:
    """Trains `recipe` on ``distribute.workers`` Ray workers; returns the run directory and why the run stopped early
    (None when it trained every epoch).

    Raises:
        TapelineError: Ray is not installed, the cluster cannot be reached or lacks the resources,
            the directory cannot be used, or (with the worker's exit code) the chief's training
            ended with an error.
        TrainingFailed: the workers failed more than ``distribute.ray.max_failures`` times (exit 1).
    """
    ray = import_ray()
    if resume:
        check_resumable(recipe, directory)
    else:
        directory = prepare_directory(directory or next_run_directory(recipe), overwrite)
    storage = Path(tempfile.mkdtemp(prefix="tapeline-ray-"))
    try:
        start_ray(ray, recipe.distribute)
        with ray_logs_filtered() if quiet else contextlib.nullcontext():
            outcome = fit_on_ray(recipe, directory, storage, quiet)
    finally:
        ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)
    if "error" in outcome:
        if outcome["exit_code"] == 0:
            raise NothingToDo(outcome["error"])
        raise WorkerFailed(outcome["error"], outcome["exit_code"])
    return directory, outcome["stop_reason"]


def import_ray() -> Any:
    """The ``ray`` module with Ray Train 2.x's API (``RAY_TRAIN_V2_ENABLED``, on by default since Ray 2.51, is set);
    `TapelineError` naming the extra when it is not installed."""
    os.environ["RAY_TRAIN_V2_ENABLED"] = "1"  # the API below; the older one has no Result.return_value
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent home (and no network here)
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")  # workers' prints once, on stdout (not stderr too)
    try:
        import ray
        import ray.train.tensorflow  # noqa: F401  (TensorFlow's trainer: what the launcher needs)
    except ImportError:
        raise TapelineError(needs_extra("`distribute.launcher: ray`", "ray", "'ray[train]'")) from None
    return ray


def start_ray(ray: Any, section: DistributeSection) -> None:
    """Starts a Ray cluster on this machine, or joins ``distribute.ray.address``; `TapelineError` when it cannot, or
    when the cluster has fewer CPUs or GPUs than the workers need."""
    settings = section.ray
    try:
        if settings.address is None:
            cpus = max(os.cpu_count() or 1, section.workers * settings.cpus_per_worker)
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        else:
            ray.init(address=settings.address, logging_level="WARNING")
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = "start a Ray cluster here" if settings.address is None else f"join {settings.address!r}"
        raise TapelineError(f"`distribute.ray.address`: cannot {where}: {error}") from None
    have = ray.cluster_resources()
    for resource, each in (("CPU", settings.cpus_per_worker), ("GPU", settings.gpus_per_worker)):
        if each and have.get(resource, 0) < section.workers * each:
            raise TapelineError(
                f"`distribute.workers: {section.workers}` with {each:g} {resource}(s) each need "
                f"{section.workers * each:g}, and the Ray cluster has {have.get(resource, 0):g}"
            )


def fit_on_ray(recipe: Recipe, directory: Path, storage: Path, quiet: bool) -> dict[str, Any]:
    """Runs `worker_main` on the recipe's Ray workers; returns the chief's outcome (`TrainingFailed` when Ray gave
    up)."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.tensorflow import TensorflowTrainer

    section = recipe.distribute
    settings = section.ray
    gpus = {"GPU": settings.gpus_per_worker} if settings.gpus_per_worker else {}
    trainer = TensorflowTrainer(
        worker_main,
        train_loop_config={"recipe": recipe, "directory": str(directory.resolve()), "quiet": quiet},
        scaling_config=ScalingConfig(
            num_workers=section.workers,
            use_gpu=bool(gpus),
            resources_per_worker={"CPU": settings.cpus_per_worker} | gpus,
        ),
        run_config=RunConfig(
            name=recipe.name,
            storage_path=str(storage),
            failure_config=FailureConfig(max_failures=settings.max_failures),
        ),
    )
    try:
        return trainer.fit().return_value
    except TrainingFailedError as error:
        restarts = "without limit" if settings.max_failures < 0 else f"up to {settings.max_failures} time(s)"
        raise TrainingFailed(
            f"the Ray workers failed (restarted {restarts}, `distribute.ray.max_failures`): {error}; "
            f"`tapeline train --resume {directory}` continues from the last saved state"
        ) from None
