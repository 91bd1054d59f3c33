"""Plots: learning curves and the confusion matrix as PNG files (needs matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from framework import hookimpl
from framework.errors import TapelineError
from framework.files import write_atomic

if TYPE_CHECKING:
    from framework import RunContext

CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
SPLITS = {"": "train", "val_": "validation", "test_": "test"}


class Plots:
    """Draws learning curves and the test confusion matrix as PNG files when training ends.

    ``learning_curves.png`` shows each metric per epoch for train, validation and test;
    ``confusion_matrix.png`` needs the report the evaluation plugin publishes (``run.reports["evaluation"]``).

    Needs matplotlib: ``pip install 'tapeline[plots]'``.
    """

    name = "plots"
    after = ("evaluation",)  # reads the report it publishes

    def __init__(self, dpi: int = 100) -> None:
        if importlib.util.find_spec("matplotlib") is None:
            raise TapelineError("the plots plugin needs matplotlib: pip install 'tapeline[plots]' (or pip install matplotlib)")
        self.dpi = dpi

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        if run.history:
            self.curves(list(run.history), run.directory / CURVES)
        evaluation = run.reports.get("evaluation")
        if evaluation is not None:
            self.confusion(evaluation, run.directory / CONFUSION)

    def curves(self, history: list[dict[str, float]], path: Path) -> None:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        metrics = [key for key in history[0] if key != "epoch" and not key.startswith(("val_", "test_")) and key != "lr"]
        figure = Figure(figsize=(5 * len(metrics), 4), dpi=self.dpi, layout="constrained")
        epochs = [row["epoch"] for row in history]
        for axes, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
            for prefix, split in SPLITS.items():
                values = [row.get(prefix + metric) for row in history]
                if any(v is not None for v in values):
                    axes.plot(epochs, values, marker="o", label=split)
            axes.set(title=metric, xlabel="epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            axes.legend()
        write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))

    def confusion(self, evaluation: dict, path: Path) -> None:
        from matplotlib.figure import Figure

        matrix, names = evaluation["confusion_matrix"], evaluation["class_names"]
        size = max(5, 0.6 * len(names) + 2)
        figure = Figure(figsize=(size + 1, size), dpi=self.dpi, layout="constrained")
        axes = figure.subplots()
        image = axes.imshow(matrix, cmap="Blues")
        figure.colorbar(image, ax=axes)
        ticks = range(len(names))
        axes.set_xticks(ticks, names, rotation=45, ha="right")
        axes.set_yticks(ticks, names)
        axes.set(xlabel="predicted", ylabel="true", title=f"{evaluation['split']} accuracy {evaluation.get('accuracy', float('nan')):.4f}")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axes.text(j, i, count, ha="center", va="center", fontsize=7, color="white" if count > peak / 2 else "black")
        write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))
