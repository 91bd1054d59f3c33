"""The evaluation report of a split: the compiled metrics plus, per target, what its task calls for.

Classification and binary: precision, recall, F1 and support per class and the confusion
matrix (rows: true classes), with the decision rule of the output layer (argmax for softmax,
probability >= 0.5 for one sigmoid unit, as Keras's ``binary_accuracy``), plus ROC-AUC for
binary. Multilabel: the same per label (threshold 0.5), micro and macro F1. Regression: MAE,
RMSE and R² per value and overall, and up to `POINTS` (true, predicted) pairs for a residual
plot. The formulas are scikit-learn's (``sklearn.metrics``); sample weights are not applied.
A class the split lacks is reported as absent (no 0.0 scores), and macro averages cover the
classes the split holds (``macro_over`` names them), as scikit-learn's ``labels=`` allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from framework.data.pipelines import Pipelines
from framework.data.tasks import Target
from framework.hooks.context import Predictions

THRESHOLD = 0.5  # sigmoid outputs: the positive decision, as keras.metrics.BinaryAccuracy's default
POINTS = 2000  # (true, predicted) pairs kept for residual plots


def one_pass(trainer: Any) -> bool:
    """Whether `predict_split`'s metrics are what ``evaluate`` would give: the Trainer computes loss and metrics as
    `framework.Trainer` does (a subclass may override ``test_step``, ``predict_step``, ``compute_loss`` or
    ``update_metrics``). The network's own losses (regularization) are added as ``evaluate`` adds them: the
    pass is a forward pass."""
    from framework.model.trainer import Trainer

    return all(
        getattr(type(trainer), name) is getattr(Trainer, name)
        for name in ("test_step", "predict_step", "compute_loss", "update_metrics")
    )


def predict_split(trainer: Any, dataset: tf.data.Dataset) -> Predictions:
    """`Predictions` of `dataset` from one ``predict`` pass that also returns the labels and updates the compiled loss
    and metrics as ``test_step`` does (`Trainer.predict_with_labels`): what ``evaluate`` returns, up to float
    rounding, sorted by name as ``evaluate`` sorts them. Only for a Trainer where `one_pass` holds."""
    trainer.reset_metrics()
    predictions, labels, _ = trainer.predict_with_labels(dataset, metrics=True)
    metrics = {name: float(value) for name, value in sorted(trainer.get_metrics_result().items())}
    return Predictions(predictions, labels, metrics)


def per_class(y: np.ndarray, decided: np.ndarray, names: list[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of each class (or label column), honest about classes the split lacks.

    A class with no sample in the split has no recall nor F1 (None, not 0.0): ``{"support": 0,
    "predicted": n, "absent": true}``, with precision 0.0 when it was predicted (every such
    prediction is wrong) and None when not.
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y, decided, labels=labels if y.ndim == 1 else None, zero_division=0
    )
    predicted = np.bincount(decided, minlength=len(names)) if y.ndim == 1 else decided.sum(axis=0)
    scores = {}
    for name, p, r, f, s, n in zip(names, precision, recall, f1, support, predicted):
        if s:
            scores[name] = {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        else:
            scores[name] = {
                "precision": 0.0 if n else None,
                "recall": None,
                "f1": None,
                "support": 0,
                "predicted": int(n),
                "absent": True,
            }
    return scores


def macro_f1(y: np.ndarray, decided: np.ndarray, names: list[str]) -> dict[str, Any]:
    """F1 averaged over the classes (or labels) the split holds, and which those are (as scikit-learn's ``labels=``).

    Returns:
        ``{"macro_f1": float or None, "macro_over": [class names]}``; None when the split holds none.
    """
    from sklearn.metrics import f1_score

    support = np.bincount(y, minlength=len(names)) if y.ndim == 1 else y.sum(axis=0)
    present = [i for i in range(len(names)) if support[i]]
    score = float(f1_score(y, decided, labels=present, average="macro", zero_division=0)) if present else None
    return {"macro_f1": score, "macro_over": [names[i] for i in present]}


def classes_report(target: Target, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Classification or binary: per-class scores and the confusion matrix from the decided classes."""
    from sklearn.metrics import confusion_matrix, roc_auc_score

    y = y.reshape(len(y)).astype(int)
    decided = (p.reshape(len(p)) >= THRESHOLD).astype(int) if target.task == "binary" else np.argmax(p, axis=-1)
    names = target.class_names or [str(c) for c in range(max(target.units, 2))]
    report = {
        "task": target.task,
        "accuracy": float(np.mean(decided == y)),
        **macro_f1(y, decided, names),
        "class_names": names,
        "per_class": per_class(y, decided, names),
        "confusion_matrix": confusion_matrix(y, decided, labels=list(range(len(names)))).tolist(),
    }
    if target.task == "binary":
        report |= {
            "threshold": THRESHOLD,
            "roc_auc": float(roc_auc_score(y, p.reshape(len(p)))) if len(set(y)) == 2 else None,
        }
    return report


def multilabel_report(target: Target, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Multilabel: per-label scores at the 0.5 threshold, micro F1 and the macro F1 of the labels the split holds."""
    from sklearn.metrics import f1_score

    y, decided = y.astype(int), (p >= THRESHOLD).astype(int)
    names = target.class_names or [str(c) for c in range(target.units)]
    return {
        "task": "multilabel",
        "threshold": THRESHOLD,
        "micro_f1": float(f1_score(y, decided, average="micro", zero_division=0)),
        **macro_f1(y, decided, names),
        "label_names": names,
        "per_label": per_class(y, decided, names),
    }


def regression_report(target: Target, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Regression: MAE, RMSE and R² (over all values, and per value column when there are several)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y, p = y.reshape(len(y), -1), p.reshape(len(p), -1)

    def scores(t: np.ndarray, q: np.ndarray) -> dict[str, float]:
        return {
            "mae": float(mean_absolute_error(t, q)),
            "rmse": float(np.sqrt(mean_squared_error(t, q))),
            "r2": float(r2_score(t, q)) if len(t) > 1 else None,
        }

    report = {"task": "regression", **scores(y, p)}
    if y.shape[1] > 1:
        report["per_value"] = [scores(y[:, i], p[:, i]) for i in range(y.shape[1])]
    report["points"] = {"true": y[:POINTS].tolist(), "predicted": p[:POINTS].tolist()}
    return report


REPORTS = {
    "classification": classes_report,
    "binary": classes_report,
    "multilabel": multilabel_report,
    "regression": regression_report,
}


def target_report(target: Target, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The task's report of one target; samples whose predictions are not finite are left out and counted
    (``"non_finite_predictions"``), so a diverged network gives a report, not an error."""
    p = np.asarray(p, np.float64)
    finite = np.isfinite(p.reshape(len(p), -1)).all(axis=1)
    if finite.all():
        return REPORTS[target.task](target, np.asarray(y), p)
    counted = {"task": target.task, "non_finite_predictions": int((~finite).sum())}
    if not finite.any():
        return counted
    return {**counted, **REPORTS[target.task](target, np.asarray(y)[finite], p[finite])}


def evaluation_report(data: Pipelines, split: str, result: Predictions) -> dict[str, Any]:
    """The report of a split from one pass's predictions.

    Args:
        data: the run's pipelines (their targets say each output's task and class names).
        split: the split's name, for the report.
        result: what ``run.predict(split)`` returned.

    Returns:
        ``{"split", **metrics, **the single target's report}``, or the targets' reports under
        ``"outputs"`` by output name.
    """
    y, p = result.labels, result.predictions
    if isinstance(p, (list, tuple)):  # a network with a list of outputs, labels keyed by output name
        p = dict(zip([t.name for t in data.targets], p))
    reports = {
        t.name: target_report(t, y[t.name] if t.name is not None else y, p[t.name] if t.name is not None else p)
        for t in data.targets
    }
    if list(reports) == [None]:
        return {"split": split, **result.metrics, **reports[None]}
    return {"split": split, **result.metrics, "outputs": reports}
