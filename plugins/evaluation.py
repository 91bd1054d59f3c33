"""Evaluation: test-set metrics during and at the end of training, written to evaluation.json."""

from __future__ import annotations

import json

from framework import Run, hookimpl

EVALUATION_FILE = "evaluation.json"


class Evaluation:
    """Evaluates on the test split every `every` epochs (0: never) and when training ends.

    Per-epoch results enter the epoch logs as ``test_<metric>`` so that plugins called later
    (early stopping, checkpoints, the console) can use them.
    """

    name = "evaluation"
    order = 10  # before plugins that read test_* entries

    def __init__(self, every: int = 0) -> None:
        if every < 0:
            raise ValueError(f"`every` must be 0 (only at the end) or a positive number of epochs (got {every})")
        self.every = every

    @hookimpl
    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, float]) -> None:
        if self.every and (epoch + 1) % self.every == 0:
            logs.update({f"test_{key}": value for key, value in run.evaluate("test").items()})

    @hookimpl
    def on_train_end(self, run: Run) -> None:
        results = run.evaluate("test")
        if run.directory is not None:
            (run.directory / EVALUATION_FILE).write_text(json.dumps({"split": "test", **results}, indent=1) + "\n")
