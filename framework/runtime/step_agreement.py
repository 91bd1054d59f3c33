"""Workers agreeing on the step at which every one of them saves and stops after one gets SIGTERM.

Under ``MultiWorkerMirroredStrategy`` every worker must save at the same step (saving reads
variables that all workers reduce together), yet a scheduler may stop one worker, or all of
them at slightly different moments. The workers are never more than one compiled call apart:
each call's all-reduce waits for every worker. So the first worker to see its own SIGTERM at a
call boundary, having finished `c` calls, claims the preemption and asks all to stop after
`c` + 1 calls; it waits until every worker's watcher thread has acknowledged before it runs call
`c` + 1, which no other worker can finish before it. This is the protocol of TensorFlow's
``PreemptionCheckpointHandler`` (tensorflow/python/distribute/failure_handling/failure_handling.py,
``_check_preemption_and_maybe_checkpoint``), through the same key-value store of TensorFlow's
coordination service, for Keras's ``fit`` loop instead of a custom one.
"""

from __future__ import annotations

import itertools
import threading

import tensorflow as tf

from framework.runtime.compat import cluster_value, set_cluster_value

STOP_WATCHING = "stop"  # the step key's value when training ended without a preemption
ACK_TIMEOUT_MS = 60_000  # a worker that does not acknowledge within this has died; the collectives will say so
_agreements = itertools.count()  # every worker runs the same program, so the n-th agreement has the same keys on all


class StepAgreement:
    """The cluster's agreement on the compiled call after which all workers save and stop.

    Args:
        worker: this worker's position in the cluster (`framework.runtime.distribute.worker_place`).
        workers: the number of workers.

    Use as a ``with`` block around training (its watcher thread runs inside it); call `propose`
    at a call boundary when this worker got SIGTERM; `save_at` is then set on every worker.
    """

    def __init__(self, worker: int, workers: int) -> None:
        self.worker, self.workers = worker, workers
        self.keys = f"tapeline/preemption/{next(_agreements)}"
        self.save_at: int | None = None  # the number of calls after which all save and stop
        self.proposed = False
        self.watcher = threading.Thread(target=self.watch, name="tapeline-preemption-watcher", daemon=True)

    def __enter__(self) -> StepAgreement:
        self.watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            set_cluster_value(f"{self.keys}/step", STOP_WATCHING)
        except tf.errors.OpError:
            return  # a step was agreed on, another worker said stop first, or the cluster is gone (a worker failed)
        self.watcher.join(timeout=10)

    def watch(self) -> None:
        """The watcher thread: waits for the agreed step, records it, acknowledges it; ends quietly when the cluster
        fails (training reports that)."""
        try:
            value = cluster_value(f"{self.keys}/step")
            if value != STOP_WATCHING:
                self.save_at = int(value)
                set_cluster_value(f"{self.keys}/ack/{self.worker}", "1")
        except tf.errors.OpError:
            return

    def propose(self, calls_done: int) -> None:
        """Asks every worker to save and stop after `calls_done` + 1 calls, unless a worker did so first; returns
        once all have acknowledged (or `ACK_TIMEOUT_MS` passed). `calls_done`: the calls this worker has finished."""
        if self.proposed:
            return
        self.proposed = True
        try:
            set_cluster_value(f"{self.keys}/leader", str(self.worker))
            set_cluster_value(f"{self.keys}/step", str(calls_done + 1))
        except tf.errors.OpError:
            return  # another worker got SIGTERM first and leads, training ended on the others, or the cluster is gone
        for worker in range(self.workers):
            try:
                cluster_value(f"{self.keys}/ack/{worker}", ACK_TIMEOUT_MS)
            except tf.errors.OpError:
                return  # that worker died: the collectives will say so
