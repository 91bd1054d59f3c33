"""Console: a live progress bar per epoch, a summary line per epoch, the test results and the end."""

from __future__ import annotations

import atexit
import sys
import time
from typing import TYPE_CHECKING, Literal

import rich.console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from framework import enable_batch_hook, format_metrics, hookimpl

if TYPE_CHECKING:
    from framework import RunContext, Trainer

REDRAW_SECONDS = 0.1


def terminal() -> rich.console.Console:
    """The rich console the progress bar draws on (stdout; tests replace this function)."""
    return rich.console.Console(highlight=False)


def new_bar(screen: rich.console.Console) -> Progress:
    """An epoch's bar: ``epoch 1/5 ━━━━━╸━━ 120/1688 0:01:05 loss 0.4012 ... 825 samples/s``; erased when stopped."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}  {task.fields[rate]:,.0f} samples/s"),
        console=screen,
        auto_refresh=False,  # redrawn from the batch hook: no drawing thread
        transient=True,
    )


class Console:
    """Prints the run's start, a line per epoch (metrics, time, samples/s), test results and why it stopped.

    `mode`: ``progress`` also shows a live bar during each epoch (epoch, steps, ETA, running
    metrics, samples/s; this costs a host sync per step); ``lines`` prints only the lines;
    ``quiet`` prints only the final test results and the stop reason; ``auto`` is ``progress``
    on a terminal and ``lines`` otherwise (CI logs, files).
    """

    name = "console"
    after = ("evaluation",)  # its final test line is printed before this one's on_train_end
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook

    def __init__(self, mode: Literal["auto", "progress", "lines", "quiet"] = "auto") -> None:
        self.mode = ("progress" if sys.stdout.isatty() else "lines") if mode == "auto" else mode
        self.phase = "idle"  # "epoch" while an epoch runs, "after" between and after epochs
        self.started = self.drawn = 0.0
        self.steps = 0
        self.chief = True  # other workers of a multi-worker run print nothing
        self.screen = terminal() if self.mode == "progress" else None
        self.bar: Progress | None = None
        self.task = TaskID(0)
        if self.screen:
            enable_batch_hook(self, self.draw_bar)

    def say(self, text: str, always: bool = False) -> None:
        if self.chief and (always or self.mode != "quiet"):
            print(text, file=self.screen.file if self.screen else None, flush=True)

    @hookimpl
    def on_train_begin(self, trainer: Trainer, run: RunContext) -> None:
        self.phase = "after"
        self.steps = run.data.steps_per_epoch
        self.chief = run.is_chief
        sizes = ", ".join(f"{count:,} {split}" for split, count in run.data.sizes.items() if count)
        resumed = f"; resuming after epoch {len(run.history)}" if run.history else ""
        self.say(
            f"{run.recipe.name}: {trainer.network.count_params():,} parameters; {sizes} samples; writing to "
            f"{run.directory}{resumed}"
        )
        replicas = run.strategy.num_replicas_in_sync
        if replicas > 1:
            per_replica = run.recipe.training.batch_size
            self.say(
                f"{run.recipe.distribute.strategy}: {replicas} replicas; global batch {run.data.batch_size} = "
                f"{per_replica} per replica × {replicas}"
            )

    @hookimpl
    def on_epoch_begin(self, run: RunContext, epoch: int) -> None:
        self.started = self.drawn = time.perf_counter()
        self.phase = "epoch"
        if self.screen and self.chief:
            self.bar = new_bar(self.screen)
            label = f"epoch {epoch + 1}/{run.recipe.training.epochs}"
            self.task = self.bar.add_task(label, total=self.steps, metrics="", rate=0.0)
            self.bar.start()
            atexit.register(self.bar.stop)  # an interrupted run gets its cursor back

    def draw_bar(self, run: RunContext, batch: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        done = batch + 1
        if self.bar is None or (now - self.drawn < REDRAW_SECONDS and done < self.steps):
            return
        self.drawn = now
        rate = done * run.data.batch_size / max(now - self.started, 1e-9)
        self.bar.update(self.task, completed=done, metrics=format_metrics(logs), rate=rate, refresh=True)

    def close_bar(self) -> None:
        """Erases the epoch's bar (the summary line takes its place)."""
        if self.bar is not None:
            self.bar.stop()
            atexit.unregister(self.bar.stop)
            self.bar = None

    @hookimpl(trylast=True)  # the epoch's line shows every entry other plugins add, whatever the recipe order
    def on_epoch_end(self, run: RunContext, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self.started
        self.phase = "after"
        self.close_bar()
        rate = run.data.sizes["train"] / seconds
        self.say(
            f"epoch {epoch + 1}/{run.recipe.training.epochs}  {format_metrics(logs)}  ({seconds:.1f} s, {rate:,.0f} "
            "samples/s)"
        )

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test" and self.phase == "after":  # inside an epoch they are on the epoch's line
            self.say(f"test  {format_metrics(logs)}", always=True)

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        self.phase = "idle"
        self.close_bar()
        if run.stop_reason:
            self.say(f"stopped early: {run.stop_reason}", always=True)
