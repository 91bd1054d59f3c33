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


def fit_line(parts: list[str], width: int | None) -> str:
    """`parts` joined by two spaces; with a `width` (columns), broken between parts into lines of at most
    `width` characters (a part wider than that gets a line of its own), the next lines indented by 4."""
    lines = [parts[0]]
    for part in parts[1:]:
        if width is None or len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += "  " + part
        else:
            lines.append("    " + part)
    return "\n".join(lines)


def shorten(text: str, width: int) -> str:
    """`text` (``name value`` pairs two spaces apart) cut between pairs to at most `width` characters,
    ending in ``…`` when cut (only ``…`` if no pair fits; empty for a width below 1)."""
    if len(text) <= width:
        return text
    end = text[: max(width - 3, 0)].rfind("  ")
    return text[:end] + "  …" if end > 0 else "…" * (width >= 1)


def bar_width(screen: rich.console.Console) -> int:
    """The bar's columns: a fifth of the terminal, 10 to 40 (rich's default)."""
    return min(40, max(10, screen.width // 5))


def new_bar(screen: rich.console.Console) -> Progress:
    """An epoch's bar: ``epoch 1/5 ━━━━━╸━━ 120/1688 0:01:05 825 samples/s  loss 0.4012 ...``; erased when stopped."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=bar_width(screen)),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]:>7,.0f} samples/s  {task.fields[metrics]}"),
        console=screen,
        auto_refresh=False,  # redrawn from the batch hook: no drawing thread
        transient=True,
    )


class Console:
    """Prints the run's start, a line per epoch (metrics, time, samples/s), test results and why it stopped.

    `mode`: ``progress`` also shows a live bar during each epoch (epoch, steps, ETA, running
    metrics, samples/s; this costs a host sync per step); ``lines`` prints only the lines;
    ``quiet`` prints only the final test results and the stop reason; ``auto`` is ``progress``
    on a terminal and ``lines`` otherwise (CI logs, files). On a terminal, epoch and test lines
    wider than it are broken between metrics (``name value`` pairs stay whole) and the bar's
    metrics are shortened with ``…``; ``lines`` keeps every entry on one line, for logs and grep.
    """

    name = "console"
    after = ("evaluation",)  # its final test line is printed before this one's on_train_end
    optional_hooks = ("on_batch_end",)  # see enable_batch_hook
    resume_may_change = ("mode",)  # --resume may show a run another way

    def __init__(self, mode: Literal["auto", "progress", "lines", "quiet"] = "auto") -> None:
        self.mode = ("progress" if sys.stdout.isatty() else "lines") if mode == "auto" else mode
        self.phase = "idle"  # "epoch" while an epoch runs, "after" between and after epochs
        self.started = self.drawn = 0.0
        self.steps = 0
        self.metrics_width = 0  # columns for the bar's metrics on this terminal
        self.chief = True  # other workers of a multi-worker run print nothing
        self.screen = terminal() if self.mode == "progress" else None
        self.bar: Progress | None = None
        self.task = TaskID(0)
        if self.screen:
            enable_batch_hook(self, self.draw_bar)

    def say_parts(self, parts: list[str], always: bool = False) -> None:
        """A line of `parts` (label, metrics, ...), wrapped between parts to the terminal's width in progress mode."""
        self.say(fit_line([part for part in parts if part], self.screen.width if self.screen else None), always)

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
            label = f"epoch {epoch + 1}/{run.recipe.training.epochs}"
            self.bar = new_bar(self.screen)
            # the columns the metrics leave: label, bar, steps, ETA (0:00:00), rate, the spaces between
            others = (
                label,
                "━" * bar_width(self.screen),
                f"{self.steps}/{self.steps}",
                "0:00:00",
                "9,999,999 samples/s",
            )
            self.metrics_width = self.screen.width - sum(len(text) + 1 for text in others) - 1
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
        metrics = shorten(format_metrics(logs), self.metrics_width)
        self.bar.update(self.task, completed=done, metrics=metrics, rate=rate, refresh=True)

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
        label = f"epoch {epoch + 1}/{run.recipe.training.epochs}"
        self.say_parts([label, *format_metrics(logs).split("  "), f"({seconds:.1f} s, {rate:,.0f} samples/s)"])

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test" and self.phase == "after":  # inside an epoch they are on the epoch's line
            self.say_parts(["test", *format_metrics(logs).split("  ")], always=True)

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        self.phase = "idle"
        self.close_bar()
        if run.stop_reason:
            self.say(f"stopped early: {run.stop_reason}", always=True)
