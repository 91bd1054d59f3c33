"""Interleaved repeats and their table cells, shared by the benchmark scripts."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def interleave(measures: dict[str, Callable[[], float]], repeats: int, unit: str) -> dict[str, list[float]]:
    """Each measurement once per repeat, in turn (A B C A B C ...), printing every value as it comes."""
    values: dict[str, list[float]] = {name: [] for name in measures}
    for repeat in range(repeats):
        for name, measure in measures.items():
            values[name].append(measure())
            print(f"repeat {repeat + 1}/{repeats}  {name:<38} {values[name][-1]:10,.1f} {unit}", flush=True)
    return values


def cells(values: list[float], digits: int) -> str:
    """``median | min-max`` for a Markdown table row."""
    return f"{statistics.median(values):,.{digits}f} | {min(values):,.{digits}f}-{max(values):,.{digits}f}"
