"""``tapeline compare``: the learning curves of several runs drawn together (needs matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from framework.errors import TapelineError
from framework.extras import needs_extra
from framework.files import write_atomic
from framework.tools.runs import UnreadableRunFile, read_history
from framework.training.run_directory import RECIPE_FILE


def run_histories(runs: list[Path], metrics: list[str]) -> dict[Path, list[dict[str, float]]]:
    """Each run's history rows; `TapelineError` for a folder that is no run, an unreadable or empty history, or a
    missing metric."""
    histories = {}
    for run in runs:
        if not (run / RECIPE_FILE).is_file():
            raise TapelineError(f"'{run}' is not a run directory (no {RECIPE_FILE})")
        try:
            history = read_history(run)
        except UnreadableRunFile as error:
            raise TapelineError(f"run '{run}': {error}") from None
        if not history:
            raise TapelineError(f"run '{run}' has no finished epoch yet (its history is empty)")
        known = sorted({key for row in history for key in row if key != "epoch"})
        for metric in metrics:
            if metric not in known:
                raise TapelineError(
                    f"run '{run}' has no metric {metric!r} in its history; its metrics: {', '.join(known)}"
                )
        histories[run] = history
    return histories


def compare_runs(runs: list[Path], metrics: list[str], output: Path, dpi: int = 100) -> Path:
    """Draws `metrics` per epoch for every run, one panel per metric, one line per run; returns `output`.

    The image format follows `output`'s suffix (``.png``, ``.svg``, ``.pdf`` ...). `TapelineError`
    when matplotlib is missing, the suffix is no format it writes, or a run cannot be drawn (see
    `run_histories`).
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise TapelineError(needs_extra("tapeline compare", "plots", "matplotlib"))
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    histories = run_histories(runs, metrics)
    figure = Figure(figsize=(6 * len(metrics), 4.5), dpi=dpi, layout="constrained")
    formats = figure.canvas.get_supported_filetypes()
    image_format = output.suffix[1:].lower()
    if image_format not in formats:
        raise TapelineError(
            f"--output '{output}': matplotlib cannot write {output.suffix or 'files without a suffix'!r}; use one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )
    for axes, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        for run, history in histories.items():
            rows = [row for row in history if metric in row]
            axes.plot(
                [row["epoch"] for row in rows], [row[metric] for row in rows], marker="o", markersize=3, label=str(run)
            )
        axes.set(title=metric, xlabel="epoch", ylabel=metric)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return write_atomic(output, lambda temporary: figure.savefig(temporary, format=image_format))
