"""NaN guard: stop with a clear message as soon as the loss is NaN or infinite."""

from __future__ import annotations

import math

from framework import TrainingFailed, enable_batch_hook, hookimpl


class NanGuard:
    """Fails the run (exit code 1) when the loss becomes NaN or Inf, naming the epoch and batch.

    With `every_batch` (the default) the loss is checked after every step, which costs a host
    sync per step; otherwise once per epoch, for free.
    """

    name = "nan_guard"
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, every_batch: bool = True) -> None:
        if every_batch:
            enable_batch_hook(self, self.check_batch, tryfirst=True)

    @staticmethod
    def check(logs: dict[str, float], where: str) -> None:
        bad = {key: value for key, value in logs.items() if "loss" in key and not math.isfinite(value)}
        if bad:
            raise TrainingFailed(f"{', '.join(f'{k} is {v}' for k, v in bad.items())} {where}; stopping (nan_guard)")

    def check_batch(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        self.check(logs, f"at epoch {epoch + 1}, batch {batch + 1}")

    @hookimpl(tryfirst=True)  # before any plugin looks at the logs or saves the network
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.check(logs, f"at the end of epoch {epoch + 1}")
