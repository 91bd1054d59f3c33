"""Reading the epoch logs: one metric watched for improvement (early stopping, checkpoints,
schedules), and all of them formatted for people."""

from __future__ import annotations

from typing import Any, Literal

from framework.errors import TapelineError
from framework.recipe.schema import require

MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")


def format_metrics(logs: dict[str, Any]) -> str:
    """``loss 0.3012  accuracy 0.8917`` for every numeric entry of `logs`."""
    return "  ".join(f"{key} {value:.4f}" for key, value in logs.items() if isinstance(value, (int, float)))


class Monitor:
    """The best value so far of `metric`, where better means lower (``min``) or higher (``max``).

    ``auto`` picks ``max`` for accuracy-like names (containing acc, auc, precision, recall,
    f1, iou or r2) and ``min`` otherwise, as Keras does. An improvement must beat the best
    value by more than `min_delta`; `baseline` is the value to beat at first.
    """

    def __init__(
        self,
        metric: str,
        mode: Literal["auto", "min", "max"] = "auto",
        min_delta: float = 0.0,
        baseline: float | None = None,
    ) -> None:
        require(
            mode=(mode, mode in ("auto", "min", "max"), "one of 'auto', 'min', 'max'"),
            min_delta=(min_delta, min_delta >= 0, "zero or positive"),
        )
        self.metric = metric
        self.mode = mode if mode != "auto" else "max" if any(m in metric.lower() for m in MAXIMIZED) else "min"
        self.min_delta = min_delta
        self.best: float | None = baseline

    def value(self, logs: dict[str, float], owner: str) -> float:
        """The metric's value in `logs`; a `TapelineError` listing what there is when it is absent."""
        if self.metric not in logs:
            available = ", ".join(sorted(logs)) or "nothing"
            raise TapelineError(
                f"{owner}: monitored metric {self.metric!r} is not in the epoch logs; available: {available}"
                " (val_* needs `dataset.validation_split`, test_* the evaluation plugin with `every`)"
            )
        return float(logs[self.metric])

    def improved(self, value: float) -> bool:
        """Whether `value` beats the best so far (then it becomes the best)."""
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        )
        if better:
            self.best = value
        return better
