"""Preemption: SIGTERM during training saves the resumable state at the next step and ends the run.

Schedulers and spot machines stop a job with SIGTERM, then kill it after a grace period
(Kubernetes: ``terminationGracePeriodSeconds``, 30 s by default; SLURM: ``KillWait``, 30 s by
default; spot VMs: about 30 s to 2 min). While `PreemptionWatch` is active, SIGTERM only sets
`PreemptionWatch.requested`; the core's epoch recorder sees it at the start of the next compiled
call (``steps_per_execution`` steps), saves the state there exactly as ``training.checkpoint_every``
would, and raises `Preempted`. More SIGTERMs meanwhile change nothing, so none can cut the save.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from framework.errors import TapelineError

EXIT_PREEMPTED = 143  # 128 + 15: what a shell reports for a process ended by SIGTERM


class Preempted(TapelineError):
    """The run stopped on SIGTERM after saving its state; ``--resume`` continues it. Exit code 143."""

    exit_code = EXIT_PREEMPTED
    preempted = True  # run.json's status: "preempted"


class PreemptionWatch:
    """While active (a ``with`` block in the main thread), SIGTERM sets `requested` instead of ending the process.

    Inactive (``enabled=False``, or outside the main thread, where Python cannot take signals)
    SIGTERM keeps its previous handler. The previous handler is put back on leaving.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.requested = False
        self.previous: signal.Handlers | None = None
        self.active = False

    def __enter__(self) -> PreemptionWatch:
        if self.enabled and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self.handle)
            self.active = True
        return self

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The SIGTERM handler: asks the run to save and stop (see the module docstring)."""
        self.requested = True

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, self.previous)
            self.active = False
