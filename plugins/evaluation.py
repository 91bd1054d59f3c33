"""Evaluation: test-set metrics during and at the end of training, with per-class results and an error report."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from framework import hookimpl, require, write_json

if TYPE_CHECKING:
    from framework import RunContext

EVALUATION_FILE = "evaluation.json"
ERRORS_FILE = "errors.csv"
REPORT = "evaluation"  # the name it publishes its final report under: ``run.reports["evaluation"]``
ERRORS = "errors"  # ... and its error report's rows: ``run.reports["errors"]``
SPLITS = ("test", "train", "validation")
DEFAULT_ERRORS = {"splits": ["test"], "top": 25}


def error_settings(errors: bool | dict[str, Any]) -> tuple[list[str], int]:
    """The splits and the rows per output of ``errors`` (``true``: `DEFAULT_ERRORS`, ``false``: none);
    ValueError naming the bad key or value."""
    if isinstance(errors, bool):
        return (list(DEFAULT_ERRORS["splits"]) if errors else []), DEFAULT_ERRORS["top"]
    unknown = sorted(set(errors) - set(DEFAULT_ERRORS))
    require(errors=(errors, not unknown, f"a mapping with the keys splits and top only (unknown: {unknown})"))
    splits, top = errors.get("splits", DEFAULT_ERRORS["splits"]), errors.get("top", DEFAULT_ERRORS["top"])
    listed = isinstance(splits, list) and all(s in SPLITS for s in splits)
    require(**{"errors.splits": (splits, listed, f"a list of split names out of {', '.join(SPLITS)}")})
    counted = isinstance(top, int) and not isinstance(top, bool) and top >= 1
    require(**{"errors.top": (top, counted, "a positive integer (rows per output)")})
    return list(dict.fromkeys(splits)), top


class Evaluation:
    """Evaluates on the test split every `every` epochs (0: only at the end) and when training ends.

    Per-epoch results enter the epoch logs as ``test_<metric>``, so plugins called later (early
    stopping, checkpoints, the console) can use them. At the end, ``evaluation.json`` gets the
    metrics and the task's report (see `framework.training.reports`): per-class precision, recall and F1
    and the confusion matrix (rows: true classes) for classification and binary, ROC-AUC for
    binary, per-label F1 for multilabel, MAE/RMSE/R² for regression; per output name for
    several outputs. The same report is published as ``run.reports["evaluation"]`` for plugins
    called after it (``plots``).

    ``errors.csv`` lists, for each split of `errors` (default: the test split), the ``top``
    highest-loss and the ``top`` most confidently wrong samples of each output with their file
    (or ``file:line``), label, prediction, probability and loss (`framework.training.error_report`);
    its rows are published as ``run.reports["errors"]["rows"]`` (`ErrorRow`s; ``plots`` draws ``errors.png``).
    ``errors: {splits: [test, train], top: 50}`` also reports the training split (one more pass
    over it, unshuffled and not augmented: the place to find wrong labels); ``errors: false``
    writes none.
    """

    name = "evaluation"

    def __init__(self, every: int = 0, errors: bool | dict[str, Any] = True) -> None:
        require(every=(every, every >= 0, "0 (only at the end) or a positive number of epochs"))
        self.every = every
        self.error_splits, self.top = error_settings(errors)

    @hookimpl
    def on_epoch_end(self, run: RunContext, epoch: int, logs: dict[str, float]) -> None:
        if self.every and (epoch + 1) % self.every == 0:
            logs.update({f"test_{key}": value for key, value in run.evaluate("test").items()})

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        from framework import error_rows, evaluation_report, write_errors

        results = evaluation_report(run.data, "test", predicted := run.predict("test"))
        run.publish(REPORT, results)
        rows = []
        for split in self.error_splits:
            if split == "validation" and run.data.validation is None:
                warnings.warn("evaluation: errors.splits names validation, but the recipe holds none out", stacklevel=1)
                continue
            rows += error_rows(run.data, split, predicted if split == "test" else run.predict(split), self.top)
        if self.error_splits:
            run.publish(ERRORS, {"rows": rows, "top": self.top})
        if run.directory is not None:
            write_json(run.directory / EVALUATION_FILE, results)
            if self.error_splits:
                write_errors(run.directory / ERRORS_FILE, rows)
