"""Console: one line per epoch with the metrics, the time and the throughput."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from framework import Run, Trainer, hookimpl
from framework.run import format_metrics


class Console:
    """Prints the run's start, a summary line per epoch, the test results and the end."""

    name = "console"
    order = 90  # after plugins that add entries to the epoch logs

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = 0.0
        self.phase = "idle"  # "epoch" while an epoch runs, "after" once the epochs are done

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @hookimpl
    def on_train_begin(self, trainer: Trainer, run: Run) -> None:
        self.phase = "after"
        sizes = ", ".join(f"{count:,} {split}" for split, count in run.data.sizes.items() if count)
        self.say(f"{run.recipe.name}: {trainer.network.count_params():,} parameters; {sizes} samples; writing to {run.directory}")

    @hookimpl
    def on_epoch_begin(self, epoch: int) -> None:
        self.started = time.perf_counter()
        self.phase = "epoch"

    @hookimpl
    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self.started
        self.phase = "after"
        rate = run.data.sizes["train"] / seconds
        self.say(f"epoch {epoch + 1}/{run.recipe.training.epochs}  {format_metrics(logs)}  ({seconds:.1f} s, {rate:,.0f} samples/s)")

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test" and self.phase == "after":  # in an epoch, they are on the epoch's line
            self.say(f"test  {format_metrics(logs)}")

    @hookimpl
    def on_train_end(self, run: Run) -> None:
        self.phase = "idle"
        if run.stop_reason:
            self.say(f"stopped early: {run.stop_reason}")
