"""Early stopping: stop when a monitored metric stops improving, optionally restoring the best weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from framework import hookimpl
from framework.monitor import Monitor
from framework.schema import require

if TYPE_CHECKING:
    from framework import Run, Trainer


class EarlyStopping:
    """Stops training when `monitor` has not improved for `patience` epochs (Keras's EarlyStopping).

    The reason is recorded as the run's stop reason. With `restore_best_weights`, the network
    ends training with the weights of its best epoch (before the final evaluation and save).
    """

    name = "early_stopping"
    order = 60  # after plugins that add metrics (evaluation), before checkpoints

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: Literal["auto", "min", "max"] = "auto",
        patience: int = 3,
        min_delta: float = 0.0,
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        require(patience=(patience, patience >= 1, "at least 1"), start_from_epoch=(start_from_epoch, start_from_epoch >= 0, "at least 0"))
        self.monitor = Monitor(monitor, mode, min_delta, baseline)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.best_epoch: int | None = None
        self.best_weights: list | None = None

    def state_dict(self) -> dict:
        """Counters and best value, saved with checkpoints (best weights are not: see docs/reliability.md)."""
        return {"wait": self.wait, "best": self.monitor.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restores the counters; a state that had stopped the run starts a new patience.

        A stopped run is only resumed when it is given more epochs (``training.epochs``
        raised): it then gets `patience` epochs to beat the best value so far.
        """
        stopped = state["wait"] >= self.patience
        self.wait, self.monitor.best, self.best_epoch = 0 if stopped else state["wait"], state["best"], state["best_epoch"]

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> str | None:
        value = self.monitor.value(logs, "early_stopping")
        if epoch < self.start_from_epoch:
            return None
        if self.monitor.improved(value):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best_weights:
                self.best_weights = trainer.network.get_weights()
            return None
        self.wait += 1
        if self.wait < self.patience:
            return None
        best = f"best {self.monitor.best:.4f}" + (f" in epoch {self.best_epoch + 1}" if self.best_epoch is not None else " (baseline)")
        return f"{self.monitor.metric} did not improve for {self.patience} epoch(s); {best}"

    @hookimpl(tryfirst=True)  # before the final evaluation and checkpoint see the weights
    def on_train_end(self, trainer: Trainer, run: Run) -> None:
        last_epoch = trainer.history.epoch[-1] if trainer.history.epoch else None
        if self.best_weights is not None and self.best_epoch != last_epoch:
            trainer.network.set_weights(self.best_weights)
            run.stop_reason = (run.stop_reason or "finished") + f"; restored the weights of epoch {self.best_epoch + 1}"
