"""Checkpoints: the last and best networks as .keras files, and the state needed to resume."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from framework import Monitor, hookimpl, require, write_atomic

if TYPE_CHECKING:
    from framework import RunContext, Trainer

FOLDER = "checkpoints"


class Checkpoint:
    """Saves ``checkpoints/last.keras`` every epoch and ``best.keras`` when `monitor` improves.

    Every file is written to a temporary name and renamed into place, so a crash never leaves
    a torn checkpoint. `keep_last` > 0 also keeps ``epoch-NNN.keras`` for the last K epochs.
    Set `monitor` to null to save no best model. The ``.keras`` files are the network alone, for
    use elsewhere; the state that ``tapeline train --resume`` needs is saved by every run. Called
    after ``early_stopping``, so with ``restore_best_weights`` the last epoch's ``last.keras``
    holds the restored weights, like ``model.weights.h5``.
    """

    name = "checkpoint"
    saves_network = (
        True  # the first-step check saves the network once, so that validate finds a network Keras cannot save
    )
    after = (
        "evaluation",
        "lr_schedule",
        "early_stopping",
    )  # entries it may watch; last.keras gets restored best weights

    def __init__(
        self,
        monitor: str | None = "val_loss",
        mode: Literal["auto", "min", "max"] = "auto",
        keep_last: int = 0,
    ) -> None:
        require(keep_last=(keep_last, keep_last >= 0, "0 or more"))
        self.monitor = Monitor(monitor, mode) if monitor else None
        self.keep_last = keep_last
        self.folder = Path()

    def state_dict(self) -> dict:
        return {"best": self.monitor.best if self.monitor else None}

    def load_state_dict(self, state: dict) -> None:
        if self.monitor:
            self.monitor.best = state["best"]

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        self.folder = run.directory / FOLDER
        self.folder.mkdir(exist_ok=True)

    def save(self, trainer: Trainer, name: str) -> Path:
        return write_atomic(self.folder / name, trainer.network.save)

    def copy(self, source: Path, name: str) -> Path:
        """Copies the file just saved to `name` (atomically): a file copy, not a second serialization."""
        return write_atomic(self.folder / name, partial(shutil.copyfile, source))

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        improved = self.monitor is not None and self.monitor.improved(self.monitor.value(logs, "checkpoint"))
        last = self.save(trainer, "last.keras")
        if improved:
            self.copy(last, "best.keras")
        if self.keep_last:
            self.copy(last, f"epoch-{epoch + 1:03d}.keras")
            by_epoch = sorted(self.folder.glob("epoch-*.keras"), key=lambda p: int(p.stem.split("-")[1]))
            for old in by_epoch[: -self.keep_last]:
                old.unlink()
