"""NaN guard: stop at the first training step whose loss is NaN or infinite."""

from __future__ import annotations

import math
import warnings

from framework import TrainingFailed, enable_batch_hook


class NanGuard:
    """Fails the run (exit code 1) at the first batch whose loss is NaN or Inf, naming the epoch and batch.

    The core already fails a run whose loss or weights are not finite at an epoch's end (for
    free, before anything is saved); this plugin stops it at the step it diverges, at the cost
    of a host sync per step.
    """

    name = "nan_guard"
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, every_batch: bool = True) -> None:
        if every_batch:
            enable_batch_hook(self, self.check_batch, tryfirst=True)  # before any plugin looks at the logs
        else:
            warnings.warn(
                "nan_guard with `every_batch: false` checks nothing: the core checks the loss and the weights at "
                "every epoch's end itself; remove the plugin, or keep it with every_batch: true to stop at the first "
                "bad batch",
                FutureWarning,
                stacklevel=2,
            )

    def check_batch(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        bad = {key: value for key, value in logs.items() if "loss" in key and not math.isfinite(value)}
        if bad:
            where = f"at epoch {epoch + 1}, batch {batch + 1}"
            raise TrainingFailed(f"{', '.join(f'{k} is {v}' for k, v in bad.items())} {where}; stopping (nan_guard)")
