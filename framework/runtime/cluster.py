"""Joining a multi-worker cluster: saying which worker is awaited, honouring Ctrl-C, giving up after a timeout.

TensorFlow's `MultiWorkerMirroredStrategy` starts this worker's server, then waits inside
``TFE_EnableCollectiveOps`` until every task of ``TF_CONFIG`` has started: silently, for about an
hour, and in C++ that holds Python's global interpreter lock, so no Python code of this process
(a thread, a signal handler, Ctrl-C's `KeyboardInterrupt`) runs until it returns. `join_cluster`
therefore works from outside that lock while it waits:

- a small watcher process (``python -m framework.runtime.cluster``, standard library only) names
  the tasks whose port does not answer, after `FIRST_REPORT` seconds and then every
  `REPORT_EVERY`, and prints the timeout message;
- Ctrl-C gets its default action (the process ends at once, killed by SIGINT: exit status 130 in
  a shell);
- `faulthandler`'s C watchdog ends the process with exit code 1 `GRACE` seconds after the timeout.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

REPORT_EVERY = 30.0  # seconds between "waiting for ..." lines
FIRST_REPORT = 5.0  # seconds before the first one: workers started together need no message
POLL = 0.5  # seconds between the watcher's checks that this process still waits
GRACE = 2.0  # seconds between the timeout message and the end of the process

T = TypeVar("T")


class Task(NamedTuple):
    """A task of ``TF_CONFIG``'s cluster: its job (``worker``, ``chief``), index and ``host:port``."""

    job: str
    index: int
    address: str

    def __str__(self) -> str:
        return f"{self.job} {self.index} ({self.address})"


def peer_tasks() -> list[Task]:
    """The tasks of the ``TF_CONFIG`` cluster other than this one (none without ``TF_CONFIG``)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    me = config.get("task", {})
    return [
        Task(job, index, address)
        for job, addresses in config.get("cluster", {}).items()
        for index, address in enumerate(addresses)
        if (job, index) != (me.get("type"), me.get("index", 0))
    ]


def answers(task: Task, timeout: float = 1.0) -> bool:
    """Whether something listens at `task`'s address (its TensorFlow server has started)."""
    host, _, port = task.address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def awaited() -> str:
    """The tasks whose port does not answer, for a message ("worker 1 (host:port), ...")."""
    missing = [str(task) for task in peer_tasks() if not answers(task)]
    return ", ".join(missing) or "every task (each port answers: were all started with the same cluster list?)"


def timeout_message(timeout: float) -> str:
    """The error printed when the cluster has not started after `timeout` seconds."""
    return (
        f"tapeline: error: the cluster did not start within {timeout:g} s (`distribute.worker_timeout`): no answer "
        f"from {awaited()}; start it with the same TF_CONFIG cluster (or --workers list), or raise "
        "`distribute.worker_timeout`"
    )


def watch(
    started: float,
    timeout: float,
    waiting: Callable[[], bool],
    report: Callable[[str], None],
    clock: Callable[[], float] = time.time,
) -> None:
    """Reports the awaited tasks while `waiting()` holds, and the timeout message once `timeout` has passed.

    Args:
        started: when the wait began (seconds, on `clock`).
        timeout: seconds until the cluster counts as not started (``distribute.worker_timeout``).
        waiting: whether the watched process still waits for the cluster.
        report: where lines go (the watcher process: standard error).
        clock: the time in seconds (`time.time`, shared by both processes).
    """
    next_report = FIRST_REPORT
    while waiting():
        waited = clock() - started
        if waited >= timeout:
            report(timeout_message(timeout))
            return
        if waited >= next_report:
            report(f"tapeline: waiting for {awaited()} to start ({waited:.0f} s of {timeout:g} s)")
            next_report = waited + REPORT_EVERY
        time.sleep(POLL)


def join_cluster(make: Callable[[], T], timeout: float) -> T:
    """`make()`'s result (the strategy), with the wait for the cluster watched from outside this process.

    Args:
        make: makes the strategy; blocks, holding the interpreter lock, until every task has started.
        timeout: seconds to wait for the whole cluster (``distribute.worker_timeout``).

    Returns what `make` returns and raises what it raises. Ctrl-C while it waits ends the process
    (SIGINT's default action); after `timeout` seconds (plus `GRACE`) the process ends with exit
    code 1 after the watcher has printed which tasks did not start.
    """
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        return make()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "framework.runtime.cluster", str(os.getpid()), repr(time.time()), repr(timeout)],
        stdin=subprocess.DEVNULL,
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    with open(os.devnull, "w") as nowhere:
        faulthandler.dump_traceback_later(timeout + GRACE, exit=True, file=nowhere)
        try:
            return make()
        finally:
            faulthandler.cancel_dump_traceback_later()
            signal.signal(signal.SIGINT, previous)
            watcher.kill()
            watcher.wait()


def watcher_main(argv: list[str]) -> int:
    """The watcher process: ``PARENT_PID STARTED TIMEOUT``; ends when the parent ends or stops waiting (killed)."""
    parent, started, timeout = int(argv[0]), float(argv[1]), float(argv[2])

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        watch(started, timeout, lambda: os.getppid() == parent, report)
    except KeyboardInterrupt:  # Ctrl-C in the terminal reaches both processes
        report(f"tapeline: interrupted while waiting for {awaited()}")
    return 0


if __name__ == "__main__":
    sys.exit(watcher_main(sys.argv[1:]))
