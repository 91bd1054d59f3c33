"""A plugin timing each epoch, shared by the benchmark scripts (named ``__main__:EpochTimer`` there)."""

from __future__ import annotations

import time

from framework import hookimpl


class EpochTimer:
    """Wall time of each epoch, from its first ``on_epoch_begin`` hook to its last ``on_epoch_end`` hook."""

    def __init__(self) -> None:
        self.started = 0.0
        self.epochs: list[float] = []

    @hookimpl(tryfirst=True)
    def on_epoch_begin(self) -> None:
        self.started = time.perf_counter()

    @hookimpl(trylast=True)
    def on_epoch_end(self) -> None:
        self.epochs.append(time.perf_counter() - self.started)
