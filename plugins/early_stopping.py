"""Early stopping: stop when a monitored metric stops improving, optionally restoring the best weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from framework import Monitor, hookimpl, require

if TYPE_CHECKING:
    from framework import RunContext, Trainer


class EarlyStopping:
    """Stops training when `monitor` has not improved for `patience` epochs (Keras's EarlyStopping).

    The reason is recorded as the run's stop reason. With `restore_best_weights`, the network
    gets the weights of its best epoch back at the end of the epoch that stops training (this
    plugin's stop, a stop requested earlier in that epoch, or the last epoch), so the saved
    ``model.weights.h5``, the final evaluation and later plugins (``checkpoint``'s
    ``last.keras``) see the best weights. A stop asked for by a plugin called after this one, or
    by a Keras callback, keeps the last epoch's weights. The best weights live in memory: after
    ``--resume`` only a best epoch reached since then can be restored.
    """

    name = "early_stopping"
    after = ("evaluation", "lr_schedule")  # they add entries (test_*, lr) this one may watch

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
        require(
            patience=(patience, patience >= 1, "at least 1"),
            start_from_epoch=(start_from_epoch, start_from_epoch >= 0, "at least 0"),
        )
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
        self.wait, self.monitor.best, self.best_epoch = (
            0 if stopped else state["wait"],
            state["best"],
            state["best_epoch"],
        )

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, run: RunContext, epoch: int, logs: dict[str, float]) -> str | None:
        reason = self.check(trainer, epoch, logs)
        last = epoch == run.recipe.training.epochs - 1
        if self.best_weights is None or self.best_epoch == epoch or not (reason or last or run.stop_reason):
            return reason
        trainer.network.set_weights(self.best_weights)
        restored = f"restored the weights of epoch {self.best_epoch + 1}"
        if reason:
            return f"{reason}; {restored}"
        if not run.stop_reason:  # the last epoch
            run.request_stop(f"finished; {restored}")
        return None

    def check(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> str | None:
        """Updates the counters with this epoch's value; the stop reason once `patience` epochs passed without
        improvement."""
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
        best = f"best {self.monitor.best:.4f}" + (
            f" in epoch {self.best_epoch + 1}" if self.best_epoch is not None else " (baseline)"
        )
        return f"{self.monitor.metric} did not improve for {self.patience} epoch(s); {best}"
