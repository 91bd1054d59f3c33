"""`Progress`: where a run's training is (epoch, step, history, why it stops), apart from the run itself.

As Lightning keeps its loops' progress apart from its Trainer, the core keeps the loop's
position here: the hook adapter and the core's own callbacks update it, `RunContext` reads it,
and `state_dict` is what the resumable state saves of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Progress:
    """The training loop's position and outcome in one session of a run.

    Attributes:
        initial_epoch: epochs done before this session (from the saved state when resuming).
        initial_step: steps of epoch `initial_epoch` (from 0) done before this session: a run
            resumed inside an epoch continues there; else 0.
        history: one row per finished epoch, ``{"epoch": N (from 1), **logs}``, the earlier
            sessions' rows first.
        epoch: the index (from 0) of the epoch running or just ended; None outside ``fit``.
        training: whether ``fit`` is running.
        stop_reason: why training stopped early (a plugin's reason, a Keras callback's stop);
            None while it goes on and when it ran all epochs.
        stop_request: the first reason given to `request_stop`, until the loop stops on it.
        epoch_metrics: the running metric variables' values at `initial_step` (NumPy arrays,
            in ``trainer.metrics_variables`` order), put back when that epoch restarts.
    """

    initial_epoch: int = 0
    initial_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    epoch: int | None = None
    training: bool = False
    stop_reason: str | None = None
    stop_request: str | None = None
    epoch_metrics: list[np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def resumed(cls, state: dict[str, Any], epoch_metrics: list[np.ndarray] | None = None) -> Progress:
        """The progress a resumed session starts from: what `state_dict` saved (``epochs_done``,
        ``steps_done``, ``history``), with the running metrics at that step."""
        return cls(state["epochs_done"], state["steps_done"], list(state["history"]), epoch_metrics=epoch_metrics)

    def state_dict(self, epochs_done: int, steps_done: int = 0) -> dict[str, Any]:
        """What the resumable state saves of the loop after `epochs_done` epochs and `steps_done` steps of the next.

        Returns:
            ``{"epochs_done", "steps_done", "history"}``, JSON-serializable.
        """
        return {"epochs_done": epochs_done, "steps_done": steps_done, "history": self.history}

    def first_step(self, epoch: int) -> int:
        """The step at which `epoch` starts in this session: `initial_step` for the epoch a resumed run continues, else
        0."""
        return self.initial_step if epoch == self.initial_epoch else 0

    def record_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Adds the history row of `epoch` (from 0): ``{"epoch": epoch + 1, **logs}``."""
        self.history.append({"epoch": epoch + 1, **logs})

    def request_stop(self, reason: str) -> None:
        """Asks the loop to stop at the next point it checks (an epoch's end, or a batch's with batch hooks).

        The first reason asked for wins. Raises `ValueError` for an empty reason and
        `RuntimeError` when training is not running.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"run.request_stop needs a non-empty reason string (got {reason!r})")
        if not self.training:
            raise RuntimeError(f"run.request_stop({reason!r}) was called after training ended; nothing is left to stop")
        self.stop_request = self.stop_request or reason
