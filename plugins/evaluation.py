"""Evaluation: test-set metrics during and at the end of training, with per-class results."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from framework import hookimpl
from framework.files import write_json
from framework.schema import require

if TYPE_CHECKING:
    from framework import RunContext

EVALUATION_FILE = "evaluation.json"
REPORT = "evaluation"  # the name it publishes its final report under: ``run.reports["evaluation"]``


def confusion_matrix(run: RunContext, split: str) -> np.ndarray:
    """Counts of (true class, predicted class) over `split`, from the network's predictions."""
    dataset = getattr(run.data, split)
    labels = np.concatenate([batch[1] for batch in dataset.as_numpy_iterator()])  # (x, y) or (x, y, sample weights)
    predicted = np.argmax(run.trainer.predict(dataset, verbose=0), axis=-1)
    matrix = np.zeros((run.data.num_classes, run.data.num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def report(run: RunContext, split: str) -> dict:
    """Metrics, per-class accuracy and the confusion matrix of the current weights on `split`."""
    metrics = run.evaluate(split)
    matrix = confusion_matrix(run, split)
    names = run.data.class_names or [str(c) for c in range(run.data.num_classes)]
    totals = matrix.sum(axis=1)
    per_class = {name: float(matrix[i, i] / totals[i]) if totals[i] else None for i, name in enumerate(names)}
    return {"split": split, **metrics, "per_class_accuracy": per_class, "class_names": names, "confusion_matrix": matrix.tolist()}


class Evaluation:
    """Evaluates on the test split every `every` epochs (0: only at the end) and when training ends.

    Per-epoch results enter the epoch logs as ``test_<metric>``, so plugins called later (early
    stopping, checkpoints, the console) can use them. At the end, ``evaluation.json`` gets the
    metrics, the accuracy of each class and the confusion matrix (rows: true classes); the same
    report is published as ``run.reports["evaluation"]`` for plugins called after it (``plots``).
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
