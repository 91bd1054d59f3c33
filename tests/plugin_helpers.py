"""Small plugins for tests, named in recipes by import path (``plugin_helpers:Scripted``)."""

from __future__ import annotations

from pathlib import Path

from framework import Run, Trainer, hookimpl


class Scripted:
    """Sets ``logs[metric]`` to the next of `values` at every epoch end (called before other plugins)."""

    order = 0

    def __init__(self, values: list[float], metric: str = "score") -> None:
        self.values, self.metric = values, metric

    @hookimpl
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        logs[self.metric] = self.values[epoch]


class WeightsRecorder:
    """Keeps a copy of the network's weights at the end of every epoch."""

    order = 99

    def __init__(self) -> None:
        self.weights: list = []

    @hookimpl
    def on_epoch_end(self, trainer: Trainer) -> None:
        self.weights.append(trainer.network.get_weights())


class Raiser:
    """Raises RuntimeError in on_epoch_end at epoch `epoch` (from 0)."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    @hookimpl
    def on_epoch_end(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise RuntimeError(f"boom at epoch {epoch}")


class CrashOnce:
    """Raises at the start of epoch `epoch` (from 0) the first time only: it leaves the file `marker` behind."""

    def __init__(self, epoch: int, marker: str) -> None:
        self.epoch, self.marker = epoch, Path(marker)

    @hookimpl
    def on_epoch_begin(self, epoch: int) -> None:
        if epoch == self.epoch and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError(f"crash at epoch {epoch}")


class SaveWeights:
    """Saves the network's final weights as `<folder>/worker<N>.weights.h5` on every worker."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    @hookimpl
    def on_train_end(self, trainer: Trainer, run: Run) -> None:
        trainer.network.save_weights(f"{self.folder}/worker{run.worker_index}.weights.h5")
