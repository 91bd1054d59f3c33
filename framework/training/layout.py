"""The layout a run trains on (replicas, global batch, file shards), saved with its state, and what ``--resume`` may
change of it.

A run may resume on another number of workers or another strategy (2 workers -> 1 process,
``mirrored`` -> ``default``): the resumed run keeps the saved global batch, so each replica's
batch becomes ``global batch / replicas``, and it keeps the global sample order, which holds when
every worker reads the training split by data (each builds the same global batches and keeps its
share). A run whose workers read their training files by file cannot change its worker count:
the order of samples depends on which worker reads which files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework.errors import TapelineError
from framework.training.state import read_progress

LAYOUT = "layout"  # the key of progress.json


def layout_of(replicas: int, global_batch_size: int, file_shards: int) -> dict[str, int]:
    """What the state saves of the layout: ``replicas``, ``global_batch_size`` (samples a step), ``file_shards``
    (workers reading their own training files; 1 when every worker reads all of them)."""
    return {"replicas": replicas, "global_batch_size": global_batch_size, "file_shards": file_shards}


def saved_layout(directory: Path) -> dict[str, int] | None:
    """The layout of the newest state in the run `directory`, or None for a state saved before Tapeline recorded it."""
    return read_progress(directory).get(LAYOUT)


def check_layout(saved: dict[str, Any] | None, now: dict[str, int]) -> str | None:
    """What the resumed run changed of the `saved` layout, for the console (None when nothing changed).

    Raises:
        TapelineError: the run read its training files by worker and the worker count changed.
    """
    if saved is None or saved == now:
        return None
    if saved["file_shards"] != now["file_shards"] and max(saved["file_shards"], now["file_shards"]) > 1:
        raise TapelineError(
            f"cannot resume on another number of workers: the run's {saved['file_shards']} worker(s) read their own "
            f"training files (file sharding), and {now['file_shards']} would read them in another order; resume with "
            f"{saved['file_shards']} worker(s), or train the run with every worker reading all files (see "
            "docs/distributed.md, 'Which worker reads what')"
        )
    per_replica = now["global_batch_size"] // now["replicas"]
    return (
        f"resumed on {now['replicas']} replica(s) instead of {saved['replicas']}: the run's global batch of "
        f"{saved['global_batch_size']} is kept ({per_replica} per replica)"
    )


def per_replica_batch(recipe_batch: int, replicas: int, global_batch: int | None) -> int:
    """Each replica's batch: the recipe's `training.batch_size`, or for a resumed run the saved `global_batch` shared
    by `replicas`.

    Raises:
        TapelineError: `global_batch` does not divide by `replicas`.
    """
    if global_batch is None:
        return recipe_batch
    if global_batch % replicas:
        fits = [n for n in range(1, global_batch + 1) if global_batch % n == 0]
        raise TapelineError(
            f"cannot resume on {replicas} replicas: the run's global batch of {global_batch} samples does not divide "
            f"by {replicas}; resume on {', '.join(map(str, fits))} replicas"
        )
    return global_batch // replicas
