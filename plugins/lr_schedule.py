"""Learning-rate schedules: cosine, step, exponential (with warm-up), and reduce-on-plateau."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from framework import Monitor, hookimpl, require

if TYPE_CHECKING:
    from framework import RunContext, Trainer


class LRSchedule:
    """Sets the optimizer's learning rate at the start of every epoch and logs it as ``lr``.

    Schedules (`base_lr` is the optimizer's learning rate when training starts):

    - ``cosine``: from `base_lr` down to `min_lr` over the run's epochs.
    - ``step``: times `factor` every `step_epochs` epochs.
    - ``exponential``: times `factor` every epoch.
    - ``plateau``: times `factor` when `monitor` has not improved for `patience` epochs,
      never below `min_lr` (Keras's ReduceLROnPlateau).

    `warmup_epochs` ramps linearly from `base_lr / (warmup_epochs + 1)` up to `base_lr` first.
    """

    name = "lr_schedule"
    after = ("evaluation",)  # plateau may watch its test_* entries

    def __init__(
        self,
        schedule: Literal["cosine", "step", "exponential", "plateau"] = "cosine",
        warmup_epochs: int = 0,
        min_lr: float = 0.0,
        factor: float = 0.1,
        step_epochs: int = 10,
        monitor: str = "val_loss",
        patience: int = 2,
    ) -> None:
        require(
            factor=(factor, 0 < factor < 1, "in (0, 1)"),
            step_epochs=(step_epochs, step_epochs >= 1, "at least 1"),
            patience=(patience, patience >= 1, "at least 1"),
            warmup_epochs=(warmup_epochs, warmup_epochs >= 0, "at least 0"),
            min_lr=(min_lr, min_lr >= 0, "at least 0"),
        )
        self.schedule, self.warmup_epochs, self.min_lr, self.factor = schedule, warmup_epochs, min_lr, factor
        self.step_epochs, self.patience = step_epochs, patience
        self.monitor = Monitor(monitor)
        self.base_lr: float | None = None
        self.plateau_lr = 0.0
        self.wait = 0

    def rate(self, epoch: int, epochs: int) -> float:
        """The learning rate for `epoch` (from 0) of `epochs`, for the epoch-based schedules."""
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)
        done, total = epoch - self.warmup_epochs, max(epochs - self.warmup_epochs, 1)
        if self.schedule == "cosine":
            return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * done / total))
        if self.schedule == "step":
            return self.base_lr * self.factor ** (done // self.step_epochs)
        if self.schedule == "exponential":
            return self.base_lr * self.factor**done
        return self.plateau_lr

    def state_dict(self) -> dict:
        return {"base_lr": self.base_lr, "plateau_lr": self.plateau_lr, "wait": self.wait, "best": self.monitor.best}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr, self.plateau_lr, self.wait, self.monitor.best = (
            state["base_lr"],
            state["plateau_lr"],
            state["wait"],
            state["best"],
        )

    @hookimpl
    def on_train_begin(self, trainer: Trainer) -> None:
        if self.base_lr is None:  # not resumed: start from the optimizer's rate
            self.base_lr = self.plateau_lr = float(trainer.optimizer.learning_rate.numpy())

    @hookimpl
    def on_epoch_begin(self, trainer: Trainer, run: RunContext, epoch: int) -> None:
        trainer.optimizer.learning_rate.assign(self.rate(epoch, run.recipe.training.epochs))

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        logs["lr"] = float(trainer.optimizer.learning_rate.numpy())
        if self.schedule != "plateau":
            return
        if self.monitor.improved(self.monitor.value(logs, "lr_schedule")):
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.plateau_lr, self.wait = max(self.plateau_lr * self.factor, self.min_lr), 0
