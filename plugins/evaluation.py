"""Evaluation: test-set metrics during and at the end of training, with per-class results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl, require, write_json

if TYPE_CHECKING:
    from framework import RunContext

EVALUATION_FILE = "evaluation.json"
REPORT = "evaluation"  # the name it publishes its final report under: ``run.reports["evaluation"]``


def report(run: RunContext, split: str) -> dict:
    """The compiled metrics of the current weights on `split` and the task's report (`framework.evaluation_report`),
    from one pass."""
    from framework import evaluation_report

    return evaluation_report(run.data, split, run.predict(split))


class Evaluation:
    """Evaluates on the test split every `every` epochs (0: only at the end) and when training ends.

    Per-epoch results enter the epoch logs as ``test_<metric>``, so plugins called later (early
    stopping, checkpoints, the console) can use them. At the end, ``evaluation.json`` gets the
    metrics and the task's report (see `framework.training.reports`): per-class precision, recall and F1
    and the confusion matrix (rows: true classes) for classification and binary, ROC-AUC for
    binary, per-label F1 for multilabel, MAE/RMSE/R² for regression; per output name for
    several outputs. The same report is published as ``run.reports["evaluation"]`` for plugins
    called after it (``plots``).
    """

    name = "evaluation"

    def __init__(self, every: int = 0) -> None:
        require(every=(every, every >= 0, "0 (only at the end) or a positive number of epochs"))
        self.every = every

    @hookimpl
    def on_epoch_end(self, run: RunContext, epoch: int, logs: dict[str, float]) -> None:
        if self.every and (epoch + 1) % self.every == 0:
            logs.update({f"test_{key}": value for key, value in run.evaluate("test").items()})

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        results = report(run, "test")
        run.publish(REPORT, results)
        if run.directory is not None:
            write_json(run.directory / EVALUATION_FILE, results)
