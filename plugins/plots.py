"""Plots: learning curves and the confusion matrix as PNG files (needs matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from framework import TapelineError, hookimpl, needs_extra, write_atomic

if TYPE_CHECKING:
    import numpy as np

    from framework import ErrorRow, RunContext

CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix"  # .png, or _<output>.png per output
RESIDUALS = "residuals"
ERRORS = "errors"  # errors.png, or errors_<split>.png for several splits
GRID = 5  # errors.png shows the first GRID x GRID rows of a split
SPLITS = {"": "train", "val_": "validation", "test_": "test"}


class Plots:
    """Draws learning curves and the test results as PNG files when training ends.

    ``learning_curves.png`` shows each metric per epoch for train, validation and test. With
    the report the evaluation plugin publishes (``run.reports["evaluation"]``):
    ``confusion_matrix.png`` for classification and binary targets, ``residuals.png`` (predicted against true values)
    for regression targets; with
    several outputs one file per output (``confusion_matrix_<output>.png`` ...). With the error
    report (``run.reports["errors"]``) of image inputs, ``errors.png`` shows the 25 highest-loss samples
    of each split reported (``errors_<split>.png`` for several), titled ``label -> prediction`` with the
    probability and the file name.

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
        errors = run.reports.get("errors")
        if errors is not None:
            self.error_grids(run, errors["rows"], run.directory)

    def error_grids(self, run: RunContext, rows: list[ErrorRow], directory: Path) -> None:
        """One image grid per split of the error report, when its inputs are images."""
        from framework import image_inputs

        splits = list(dict.fromkeys(row.split for row in rows))
        for split in splits:
            shown = [row for row in rows if row.split == split][: GRID * GRID]
            images = image_inputs(run.data, split, [row.index for row in shown])
            if images:
                name = f"{ERRORS}_{split}.png" if len(splits) > 1 else f"{ERRORS}.png"
                self.grid(split, shown, images, directory / name)

    def grid(self, split: str, rows: list[ErrorRow], images: dict[int, np.ndarray], path: Path) -> None:
        """`rows`' images (by sample index) in a GRID x GRID figure, each titled label -> prediction and file."""
        import numpy as np
        from matplotlib.figure import Figure

        figure = Figure(figsize=(2 * GRID, 2.3 * GRID), dpi=self.dpi, layout="constrained")
        figure.suptitle(f"{split}: highest loss first")
        for axes in figure.subplots(GRID, GRID, squeeze=False).flat:
            axes.axis("off")
        for axes, row in zip(figure.axes, rows):
            image = np.asarray(images[row.index], np.float64)
            low, high = image.min(), image.max()
            image = (image - low) / (high - low) if high > low else image * 0
            axes.imshow(image[..., 0] if image.shape[-1] == 1 else image[..., :3], cmap="gray", vmin=0, vmax=1)
            probability = "" if row.probability is None else f" p={row.probability:.2f}"
            axes.set_title(f"{row.label} -> {row.prediction}{probability}\n{Path(row.file).name}", fontsize=7)
        write_atomic(path, lambda temporary: figure.savefig(temporary, format="png"))

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
