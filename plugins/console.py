"""Console: a live progress bar per epoch, a summary line per epoch, the test results and the end."""

from __future__ import annotations

import sys
import time
from typing import Literal

from framework import Run, Trainer, enable_batch_hook, hookimpl

from framework.run import format_metrics

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def duration(seconds: float) -> str:
    """``1:05`` or ``1:02:03``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Console:
    """Prints the run's start, a line per epoch (metrics, time, samples/s), test results and why it stopped.

    `mode`: ``progress`` also redraws a bar during each epoch (steps, ETA, running metrics,
    samples/s; this costs a host sync per step); ``lines`` prints only the lines; ``quiet``
    prints only the final test results and the stop reason; ``auto`` is ``progress`` on a
    terminal and ``lines`` otherwise (CI logs, files).
    """

    name = "console"
    order = 90  # after plugins that add entries to the epoch logs
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, mode: Literal["auto", "progress", "lines", "quiet"] = "auto") -> None:
        self.mode = ("progress" if sys.stdout.isatty() else "lines") if mode == "auto" else mode
        self.phase = "idle"  # "epoch" while an epoch runs, "after" between and after epochs
        self.started = self.drawn = 0.0
        self.steps = 0
        self.chief = True  # other workers of a multi-worker run print nothing
        if self.mode == "progress":
            enable_batch_hook(self, self.draw_bar)

    def say(self, text: str, always: bool = False) -> None:
        if self.chief and (always or self.mode != "quiet"):
            print(text, flush=True)

    @hookimpl
    def on_train_begin(self, trainer: Trainer, run: Run) -> None:
        self.phase = "after"
        self.steps = run.data.steps_per_epoch
        self.chief = run.is_chief
        sizes = ", ".join(f"{count:,} {split}" for split, count in run.data.sizes.items() if count)
        resumed = f"; resuming after epoch {run.initial_epoch}" if run.initial_epoch else ""
        self.say(f"{run.recipe.name}: {trainer.network.count_params():,} parameters; {sizes} samples; writing to {run.directory}{resumed}")
        replicas = run.strategy.num_replicas_in_sync
        if replicas > 1:
            per_replica = run.recipe.training.batch_size
            self.say(f"{run.recipe.distribute.strategy}: {replicas} replicas; global batch {run.data.batch_size} = {per_replica} per replica × {replicas}")

    @hookimpl
    def on_epoch_begin(self, epoch: int) -> None:
        self.started = self.drawn = time.perf_counter()
        self.phase = "epoch"

    def draw_bar(self, run: Run, epoch: int, batch: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        done = batch + 1
        if not self.chief or (now - self.drawn < REDRAW_SECONDS and done < self.steps):
            return
        self.drawn = now
        elapsed = now - self.started
        filled = BAR_WIDTH * done // self.steps
        eta = elapsed / done * (self.steps - done)
        rate = done * run.data.batch_size / max(elapsed, 1e-9)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        line = f"epoch {epoch + 1}/{run.recipe.training.epochs} [{bar}] {done}/{self.steps} ETA {duration(eta)}  {format_metrics(logs)}  {rate:,.0f} samples/s"
        print(f"\r{line}\033[K", end="", flush=True)

    @hookimpl
    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self.started
        self.phase = "after"
        rate = run.data.sizes["train"] / seconds
        clear = "\r\033[K" if self.mode == "progress" else ""
        self.say(f"{clear}epoch {epoch + 1}/{run.recipe.training.epochs}  {format_metrics(logs)}  ({seconds:.1f} s, {rate:,.0f} samples/s)")

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test" and self.phase == "after":  # inside an epoch they are on the epoch's line
            self.say(f"test  {format_metrics(logs)}", always=True)

    @hookimpl
    def on_train_end(self, run: Run) -> None:
        self.phase = "idle"
        if run.stop_reason:
            self.say(f"stopped early: {run.stop_reason}", always=True)
