"""Plots: learning curves and the confusion matrix as PNG files (needs matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from framework import TapelineError, hookimpl, needs_extra, write_atomic

if TYPE_CHECKING:
    from framework import RunContext

CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix"  # .png, or _<output>.png per output
RESIDUALS = "residuals"
SPLITS = {"": "train", "val_": "validation", "test_": "test"}


class Plots:
    """Draws learning curves and the test results as PNG files when training ends.

    ``learning_curves.png`` shows each metric per epoch for train, validation and test. With
    the report the evaluation plugin publishes (``run.reports["evaluation"]``):
    ``confusion_matrix.png`` for classification and binary targets, ``residuals.png`` (predicted against true values)
    for regression targets; with
    several outputs one file per output (``confusion_matrix_<output>.png`` ...).

    Needs matplotlib: ``pip install 'tapeline[plots]'``.
    """

    name = "plots"
    after = ("evaluation",)  # reads the report it publishes
    resume_may_change = ("dpi",)

    def __init__(self, dpi: int = 100) -> None:
        if importlib.util.find_spec("matplotlib") is None:
            raise TapelineError(needs_extra("the plots plugin", "plots", "matplotlib"))
        self.dpi = dpi

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        if run.history:
            self.curves(list(run.history), run.directory / CURVES)
        evaluation = run.reports.get("evaluation")
        if evaluation is not None:
            self.results(evaluation, run.directory)

    def results(self, evaluation: dict, directory: Path) -> None:
        """A confusion matrix or residual plot per target of the evaluation report."""
        reports = evaluation.get("outputs") or {None: evaluation}
        for name, report in reports.items():
            suffix = f"_{name}.png" if name is not None else ".png"
            if "confusion_matrix" in report:
                self.confusion(report, evaluation["split"], directory / (CONFUSION + suffix))
            elif report.get("task") == "regression":
                self.residuals(report, evaluation["split"], directory / (RESIDUALS + suffix))

    def curves(self, history: list[dict[str, float]], path: Path) -> None:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        metrics = [
            key for key in history[0] if key != "epoch" and not key.startswith(("val_", "test_")) and key != "lr"
        ]
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

    def confusion(self, report: dict, split: str, path: Path) -> None:
        from matplotlib.figure import Figure

        matrix, names = report["confusion_matrix"], report["class_names"]
        size = max(5, 0.6 * len(names) + 2)
        figure = Figure(figsize=(size + 1, size), dpi=self.dpi, layout="constrained")
        axes = figure.subplots()
        image = axes.imshow(matrix, cmap="Blues")
        figure.colorbar(image, ax=axes)
        ticks = range(len(names))
        axes.set_xticks(ticks, names, rotation=45, ha="right")
        axes.set_yticks(ticks, names)
        axes.set(xlabel="predicted", ylabel="true", title=f"{split} accuracy {report['accuracy']:.4f}")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axes.text(
                    j, i, count, ha="center", va="center", fontsize=7, color="white" if count > peak / 2 else "black"
                )
        write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))

    def residuals(self, report: dict, split: str, path: Path) -> None:
        from matplotlib.figure import Figure

        true, predicted = report["points"]["true"], report["points"]["predicted"]
        columns = len(true[0])
        figure = Figure(figsize=(4.5 * columns, 4), dpi=self.dpi, layout="constrained")
        for column, axes in enumerate(figure.subplots(1, columns, squeeze=False)[0]):
            t, q = [row[column] for row in true], [row[column] for row in predicted]
            axes.scatter(t, q, s=8, alpha=0.6)
            low, high = min(t + q), max(t + q)
            axes.plot([low, high], [low, high], color="grey", linewidth=1)
            scores = report["per_value"][column] if columns > 1 else report
            axes.set(
                xlabel="true", ylabel="predicted", title=f"{split}: MAE {scores['mae']:.3g}, RMSE {scores['rmse']:.3g}"
            )
            axes.grid(alpha=0.3)
        write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))
