"""A plugin timing each epoch, shared by the benchmark scripts (named ``__main__:EpochTimer`` there)."""

from __future__ import annotations

import time
from collections.abc import Generator

from framework import hookimpl


class EpochTimer:
    """Wall time of each epoch, from before its first ``on_epoch_begin`` hook to after its last ``on_epoch_end`` hook,
    and the part of it spent inside the other plugins' epoch hooks.

    Its two hooks are pluggy hook wrappers (``wrapper=True``), which run around every other
    plugin's implementation of the hook.
    """

    def __init__(self) -> None:
        self.started = 0.0
        self.epochs: list[float] = []  # seconds per epoch
        self.in_hooks: list[float] = []  # seconds per epoch inside on_epoch_begin and on_epoch_end

    @hookimpl(wrapper=True)
    def on_epoch_begin(self) -> Generator[None, list, list]:
        self.started = time.perf_counter()
        results = yield
        self.in_hooks.append(time.perf_counter() - self.started)
        return results

    @hookimpl(wrapper=True)
    def on_epoch_end(self) -> Generator[None, list, list]:
        before = time.perf_counter()
        results = yield  # the other plugins' returns (a reason to stop, or None), passed on
        now = time.perf_counter()
        self.epochs.append(now - self.started)
        self.in_hooks[-1] += now - before
        return results
