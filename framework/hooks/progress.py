"""Where a run's training is: epochs and steps done, the history, why it stops."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow is imported when a state is written or read, not to check a run directory

    pass


def history_row(epoch: int, logs: dict[str, float]) -> dict[str, float]:
    """The history row of `epoch` (from 0): ``{"epoch": epoch + 1, **logs}``."""
    return {"epoch": epoch + 1, **logs}
