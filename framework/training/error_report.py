"""The error report of a split: the samples the network gets most wrong, each named by its file (or ``file:line``).

For every output, the `top` samples of highest loss and the `top` most confidently wrong ones
(wrong with a probability of at least `CONFIDENT` for the wrong decision), one row each, sorted
by loss. The loss is the task's default loss of one sample, computed from the outputs (whatever
loss the recipe trains with, so that rows compare across runs): cross-entropy of the label's
class (classification), binary cross-entropy (binary; multilabel: its mean over the labels),
squared error (regression: its mean over the values); probabilities are clipped to
[1e-7, 1 - 1e-7] as Keras's ``backend.epsilon()`` does. A sample whose outputs are not finite
has an infinite loss, so it comes first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framework.data.pipelines import Pipelines
from framework.data.tasks import Target
from framework.files import write_csv
from framework.hooks.context import Predictions
from framework.training.reports import THRESHOLD

CONFIDENT = 0.9  # a wrong decision this probable (or more) is "confidently wrong"
EPSILON = 1e-7  # keras.backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON] for the loss
HIGHEST_LOSS = "highest loss"
CONFIDENTLY_WRONG = "confidently wrong"


@dataclass
class ErrorRow:
    """One sample of an error report (a row of ``errors.csv``).

    Attributes:
        split: ``test``, ``train`` or ``validation``.
        rank: the sample's place by loss in its split and output (1: the highest loss).
        file: where the sample comes from: a file path, ``file:line``, or ``split[index]``.
        index: its position in the unshuffled split.
        output: the output's name, empty for a single output.
        label: the class name (binary: of 0 or 1; multilabel: the labels set, joined by ``;``; regression: the
            values).
        prediction: the decided class (argmax; binary and multilabel: probability >= 0.5), or the predicted values.
        probability: the network's probability for its decision (multilabel: for the decision on the label it gets
            most wrong); None for regression.
        loss: the sample's loss (see the module's docstring).
        wrong: whether the decision differs from the label (regression: None).
        reason: ``highest loss``, ``confidently wrong`` or both, joined by ``; ``.
    """

    split: str
    rank: int
    file: str
    index: int
    output: str
    label: str
    prediction: str
    probability: float | None
    loss: float
    wrong: bool | None
    reason: str


COLUMNS = list(ErrorRow.__dataclass_fields__)


def clipped(p: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [`EPSILON`, 1 - `EPSILON`], as Keras's cross-entropies clip them."""
    return np.clip(p, EPSILON, 1 - EPSILON)


def sample_losses(task: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The loss of each sample ``(n,)`` float64: outputs `p` ``(n, units)`` against labels `y` (class ids ``(n,)``
    for classification, else ``(n, units)``); infinite where `p` is not finite."""
    p = p.astype(np.float64).reshape(len(p), -1)
    if task == "classification":
        losses = -np.log(clipped(p[np.arange(len(p)), y]))
    elif task == "regression":
        losses = np.mean((p - y.reshape(p.shape)) ** 2, axis=1)
    else:
        q, t = clipped(p), y.reshape(p.shape)
        losses = -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q), axis=1)
    return np.where(np.isfinite(p).all(axis=1), losses, np.inf)


def names_of(target: Target) -> list[str]:
    """The target's class (or label) names, or ``0 .. units-1`` (binary: ``0``, ``1``)."""
    count = 2 if target.task == "binary" else target.units
    return (
        target.class_names if target.class_names and len(target.class_names) >= count else list(map(str, range(count)))
    )


def joined(values: np.ndarray, names: list[str] | None = None) -> list[str]:
    """Each row of `values` as text joined by ``;``: numbers as ``%.6g``, or with `names` the names of the true
    entries (a multilabel set)."""
    if names is None:
        return [";".join(f"{v:.6g}" for v in row) for row in values]
    return [";".join(n for n, on in zip(names, row) if on) for row in values]


def decisions(target: Target, y: np.ndarray, p: np.ndarray) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Per sample: the label's text, the prediction's text, the probability of the decision and whether it is wrong
    (NaN and False for regression). `y`, `p` as for `sample_losses`."""
    names = names_of(target)
    p = p.reshape(len(p), -1)
    if target.task == "regression":
        return joined(y.reshape(p.shape)), joined(p), np.full(len(p), np.nan), np.zeros(len(p), bool)
    if target.task == "classification":
        decided = np.argmax(p, axis=1)
        return [names[i] for i in y], [names[i] for i in decided], p.max(axis=1), decided != y
    truth, decided = y.reshape(p.shape) >= THRESHOLD, p >= THRESHOLD
    confidence = np.where(decided, p, 1 - p)
    if target.task == "binary":
        return (
            [names[int(v)] for v in truth[:, 0]],
            [names[int(v)] for v in decided[:, 0]],
            confidence[:, 0],
            (decided != truth)[:, 0],
        )
    worst = np.argmax(np.abs(p - truth), axis=1)  # the label it gets most wrong
    return joined(truth, names), joined(decided, names), confidence[np.arange(len(p)), worst], (decided != truth).any(1)


def target_rows(data: Pipelines, split: str, target: Target, y: Any, p: Any, top: int) -> list[ErrorRow]:
    """The `top` highest-loss and the `top` most confidently wrong samples of one output, sorted by loss."""
    p = np.asarray(p, np.float64)
    y = np.asarray(y).reshape(-1).astype(np.int64) if target.task == "classification" else np.asarray(y, np.float64)
    losses = sample_losses(target.task, y, p)
    finite = np.isfinite(p.reshape(len(p), -1)).all(axis=1)
    label, prediction, probability, wrong = decisions(target, y, np.where(finite[:, None], p.reshape(len(p), -1), 0))
    order = np.argsort(-losses, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    confident = np.flatnonzero(wrong & (probability >= CONFIDENT))
    confident = confident[np.argsort(-probability[confident], kind="stable")][:top]
    reasons: dict[int, list[str]] = {int(i): [HIGHEST_LOSS] for i in order[:top]}
    for i in confident:
        reasons.setdefault(int(i), []).append(CONFIDENTLY_WRONG)
    regression = target.task == "regression"
    return [
        ErrorRow(
            split,
            int(rank[i]),
            data.sample_name(split, i),
            i,
            target.name or "",
            label[i],
            prediction[i],
            None if regression else round(float(probability[i]), 6),
            float(losses[i]),
            None if regression else bool(wrong[i]),
            "; ".join(reasons[i]),
        )
        for i in sorted(reasons, key=lambda i: rank[i])
    ]


def error_rows(data: Pipelines, split: str, result: Predictions, top: int) -> list[ErrorRow]:
    """The error report of `split` from one pass's predictions (``run.predict(split)``), output by output.

    Args:
        data: the run's pipelines: their targets (task, class names) and sample names.
        split: the split predicted (``test``, ``train``, ``validation``).
        result: its outputs and labels, in the unshuffled split's order.
        top: how many highest-loss (and how many confidently wrong) samples to keep per output, 1 or more.
    """
    y, p = result.labels, result.predictions
    if isinstance(p, (list, tuple)):  # a list of outputs, labels keyed by output name
        p = dict(zip([t.name for t in data.targets], p))
    rows = []
    for target in data.targets:
        named = target.name is not None
        rows += target_rows(data, split, target, y[target.name] if named else y, p[target.name] if named else p, top)
    return rows


def write_errors(path: Path, rows: list[ErrorRow]) -> Path:
    """`rows` as CSV (`COLUMNS`), atomically; an empty probability or wrong column for regression."""
    return write_csv(path, [asdict(row) for row in rows], COLUMNS)


def error_lines(rows: list[ErrorRow]) -> list[str]:
    """`rows` as aligned text lines for a terminal: rank, loss, probability, label -> prediction, file."""
    lines = []
    for row in rows:
        probability = "" if row.probability is None else f"p={row.probability:.3f} "
        output = f"[{row.output}] " if row.output else ""
        lines.append(
            f"{row.rank:>6}  loss {row.loss:8.4f}  {probability}{output}{row.label} -> {row.prediction}  {row.file}"
        )
    return lines


def image_inputs(data: Pipelines, split: str, indices: list[int]) -> dict[int, np.ndarray]:
    """The inputs of samples `indices` of `split` (after preprocessing, not augmented) when they are images
    ``(height, width, channels)``, by index; empty for other inputs (tables, several inputs). One pass over the
    split."""
    import tensorflow as tf

    dataset = data.in_order(split)
    spec = dataset.element_spec[0]
    if not indices or not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 4:
        return {}
    wanted = tf.constant(sorted(set(indices)), tf.int64)
    found = (
        dataset.map(lambda x, *rest: x)
        .unbatch()
        .enumerate()
        .filter(lambda i, x: tf.reduce_any(tf.equal(i, wanted)))
        .take(len(wanted))
    )
    return {int(i): x for i, x in found.as_numpy_iterator()}
