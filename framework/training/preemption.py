"""Preemption: SIGTERM during training saves the resumable state at the next step and ends the run.

Schedulers and spot machines stop a job with SIGTERM, then kill it after a grace period
(Kubernetes: ``terminationGracePeriodSeconds``, 30 s by default; SLURM: ``KillWait``, 30 s by
default; spot VMs: about 30 s to 2 min). While `PreemptionWatch` is active, SIGTERM only sets
`PreemptionWatch.requested`; the core's epoch recorder asks `PreemptionWatch.stop_here` at the
start of every compiled call (``steps_per_execution`` steps), which says yes at the next one; the
recorder saves the state there exactly as ``training.checkpoint_every`` would, and raises
`Preempted`. More SIGTERMs meanwhile change nothing, so none can cut the save. Under
``multi_worker`` the workers agree on the call (`framework.runtime.step_agreement`): all save at
the same step, one call after the first SIGTERM any of them saw.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from framework.errors import TapelineError
from framework.runtime.step_agreement import StepAgreement

EXIT_PREEMPTED = 143  # 128 + 15: what a shell reports for a process ended by SIGTERM


class Preempted(TapelineError):
    """The run stopped on SIGTERM after saving its state; ``--resume`` continues it. Exit code 143."""

    exit_code = EXIT_PREEMPTED
    preempted = True  # run.json's status: "preempted"


class PreemptionWatch:
    """While active (a ``with`` block in the main thread), SIGTERM sets `requested` instead of ending the process.

    Inactive (``enabled=False``, or outside the main thread, where Python cannot take signals)
    SIGTERM keeps its previous handler. The previous handler is put back on leaving. With an
    `agreement`, the workers of a cluster stop at the same call (`stop_here`).
    """

    def __init__(self, enabled: bool = True, agreement: StepAgreement | None = None) -> None:
        self.enabled = enabled
        self.agreement = agreement
        self.requested = False
        self.previous: signal.Handlers | None = None
        self.active = False
        self.calls = 0  # compiled calls started inside the block

    def __enter__(self) -> PreemptionWatch:
        if self.enabled and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self.handle)
            self.active = True
            if self.agreement is not None:
                self.agreement.__enter__()
        return self

    def stop_here(self) -> bool:
        """Called at the start of every compiled call: whether the run saves its state and stops before it."""
        done, self.calls = self.calls, self.calls + 1
        if self.agreement is None or not self.active:
            return self.requested
        if self.requested:
            self.agreement.propose(done)
        return self.agreement.save_at is not None and done >= self.agreement.save_at

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The SIGTERM handler: asks the run to save and stop (see the module docstring)."""
        self.requested = True

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, self.previous)
            self.active = False
            if self.agreement is not None:
                self.agreement.__exit__(kind, error, trace)
