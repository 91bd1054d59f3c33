"""`tapeline export --format litert --quantize float16|dynamic|int8`: a smaller LiteRT model, checked by its metric.

The model is `framework.tools.inference.raw_model` (raw inputs in, float32 outputs out) converted
by Keras through TensorFlow's LiteRT converter with its post-training quantization
(`converter_options`):

- ``float16``: weights stored as float16 (``optimizations=[DEFAULT]``,
  ``target_spec.supported_types=[tf.float16]``), computed in float32 by the CPU interpreter;
- ``dynamic``: dynamic-range quantization, weights stored as int8 (``optimizations=[DEFAULT]``),
  activations quantized on the fly where a kernel supports it;
- ``int8``: weights and activations int8, the activations' ranges calibrated on
  `CALIBRATION_SAMPLES` raw inputs of the run's training split (``representative_dataset``);
  ops without an int8 kernel stay float, and the model's inputs and outputs keep their dtypes,
  so it takes the same raw inputs as the float export.

A quantized model does not match the float network within `framework.tools.export.TOLERANCE`,
so it is checked by the task's metric on the run's test split with its labels, read again
through the run's recipe (`framework.tools.labeled_data`): the float network in Keras and the quantized model
in the LiteRT interpreter on the same raw samples. When the quantized model is worse by more
than the allowed drop (`--max-drop`), `ExportCheckFailed` (exit 1) and nothing is written.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.tasks import Target
from framework.errors import TapelineError
from framework.files import write_json
from framework.tools.export import (
    ExportCheckFailed,
    convert,
    describe_inputs,
    describe_outputs,
    exported_precision,
    interface,
    output_path,
    require_extra,
    run_export,
    write_checked,
    write_litert,
)
from framework.tools.inference import load_trained, network_outputs, raw_model
from framework.tools.labeled_data import labeled_test, read_source, training_inputs
from framework.training.reports import THRESHOLD

if TYPE_CHECKING:
    import keras

QUANTIZE = ("float16", "dynamic", "int8")
MAX_DROP = 1.0  # accuracy points (regression: percent of the float network's MAE)
CHECK_SAMPLES = 2000  # test samples a quantized export is checked on by default (the whole split when fewer)
CALIBRATION_SAMPLES = 200  # training inputs the int8 activation ranges are calibrated on
BATCH = 256  # samples per call of the float network and the interpreter
METRICS = {"classification": "accuracy", "binary": "accuracy", "multilabel": "label accuracy", "regression": "MAE"}
MB = 1e6


@dataclass
class Score:
    """One output's metric for the float network and the quantized model.

    Attributes:
        output: the output's name (``output`` for a single one).
        metric: ``accuracy`` (classification, binary at 0.5), ``label accuracy`` (multilabel, per label at 0.5) or
            ``MAE`` (regression).
        reference: the float network's value.
        quantized: the quantized model's value.
        worse: how much worse the quantized model is: accuracy points lost, or the MAE's increase in percent of the
            float network's (negative: better).
        allowed: the largest allowed `worse`.
    """

    output: str
    metric: str
    reference: float
    quantized: float
    worse: float
    allowed: float

    @property
    def unit(self) -> str:
        """``points`` for accuracies, ``%`` for an MAE."""
        return "%" if self.metric == "MAE" else "points"

    def json(self) -> dict[str, Any]:
        """``{"metric": "accuracy", "float": 0.873, "quantized": 0.8712, "worse": 0.18, "unit": "points", ...}``."""
        return {
            "metric": self.metric,
            "float": self.reference,
            "quantized": self.quantized,
            "worse": self.worse,
            "unit": self.unit,
            "allowed": self.allowed,
        }

    def line(self) -> str:
        """``accuracy 0.8712 vs float 0.8730 (-0.18 points, allowed 1.0)``."""
        shown = self.worse if self.metric == "MAE" else 0.0 - self.worse  # 0.0 -: no "-0.00"
        return (
            f"{self.metric} {self.quantized:.4f} vs float {self.reference:.4f} "
            f"({shown:+.2f} {self.unit}, allowed {float(self.allowed)})"
        )


@dataclass
class QuantizedReport:
    """What `export_quantized` wrote and how the quantized model scored against the float network."""

    path: Path
    mode: str
    samples: int
    calibration: int
    scores: list[Score]
    float_bytes: int
    quantized_bytes: int
    inputs: list[str]
    outputs: list[str]

    def line(self) -> str:
        """``quantized (dynamic): accuracy ... ; size 4.71 MB -> 1.19 MB (3.96x smaller)``."""
        named = len(self.scores) > 1
        metrics = "; ".join((f"{s.output} " if named else "") + s.line() for s in self.scores)
        return (
            f"quantized ({self.mode}): {metrics}; size {size(self.float_bytes)} -> {size(self.quantized_bytes)} "
            f"({self.float_bytes / self.quantized_bytes:.2f}x smaller)"
        )

    def checked(self) -> dict[str, Any]:
        """The check as ``<export>.json`` records it under ``checked``."""
        return {
            "quantize": self.mode,
            "samples": self.samples,
            "calibration_samples": self.calibration,
            "metrics": {s.output: s.json() for s in self.scores},
            "size_bytes": {"float32_litert": self.float_bytes, "quantized": self.quantized_bytes},
        }


def size(count: int) -> str:
    """A file size in bytes as ``4.71 MB`` (10^6 bytes), or ``12.3 kB`` below 1 MB."""
    return f"{count / MB:.2f} MB" if count >= MB else f"{count / 1e3:.1f} kB"


def check_arguments(format: str, mode: str | None, max_drop: float | None, tolerance: float | None) -> None:
    """`TapelineError` (exit 2) for flags that do not go together: `mode` (``--quantize``) with a `format` other than
    litert, ``--max-drop`` without ``--quantize``, ``--tolerance`` with it, an unknown `mode`, a negative `max_drop`."""
    if mode is None:
        raise TapelineError("--max-drop checks a quantized export: give --quantize float16|dynamic|int8 with it")
    if format != "litert":
        raise TapelineError(
            f"--quantize needs --format litert (got --format {format}): keras, savedmodel and onnx exports are "
            "not quantized"
        )
    if tolerance is not None:
        raise TapelineError(
            "--tolerance bounds a float export's difference; a quantized export is checked by its metric (--max-drop)"
        )
    if mode not in QUANTIZE:
        raise TapelineError(f"unknown --quantize {mode!r}; choose one of {', '.join(QUANTIZE)}")
    if max_drop is not None and not max_drop >= 0:
        raise TapelineError(f"--max-drop must be 0 or more (got {max_drop:g})")


def converter_options(mode: str, calibration: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The ``tf.lite.TFLiteConverter`` attributes of `mode` (`QUANTIZE`), as ``model.export(format="litert", ...)``
    takes them; `calibration`: raw inputs by name, ``(n, ...)`` arrays, for ``int8``."""
    import tensorflow as tf

    options: dict[str, Any] = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if mode == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    elif mode == "int8":
        if not calibration:
            raise TapelineError("--quantize int8 needs calibration inputs (raw training samples)")
        options["representative_dataset"] = partial(one_by_one, calibration)
    return options


def write_quantized(model: keras.Model, path: Path, options: dict[str, Any]) -> None:
    """`write_litert` with the converter `options`, without the deprecation warning of the ``tf.lite.Interpreter``
    that TensorFlow's int8 calibration runs itself (nothing a user of Tapeline can change)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated")
        write_litert(model, path, **options)


def one_by_one(inputs: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """`inputs` one sample at a time (``(1, ...)`` arrays by input name): a converter's representative dataset."""
    for i in range(len(next(iter(inputs.values())))):
        yield {name: array[i : i + 1] for name, array in inputs.items()}


def in_batches(
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """`run`'s outputs on `inputs`, `BATCH` samples at a time, joined by output name."""
    total = len(next(iter(inputs.values())))
    parts = [run({k: v[i : i + BATCH] for k, v in inputs.items()}) for i in range(0, total, BATCH)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def metric(task: str, outputs: np.ndarray, labels: np.ndarray) -> float:
    """The `METRICS` value of float32 `outputs` ``(n, units)`` against `labels` (see `label_array`)."""
    if task == "classification":
        return float(np.mean(np.argmax(outputs, axis=-1) == labels))
    if task == "regression":
        return float(np.mean(np.abs(outputs - labels)))
    return float(np.mean((outputs >= THRESHOLD) == (labels >= THRESHOLD)))


def worse_by(task: str, reference: float, quantized: float) -> float:
    """Accuracy points lost (100 × the difference), or for regression the MAE's increase in percent of `reference`."""
    if task != "regression":
        return (reference - quantized) * 100
    if reference == 0:
        return 0.0 if quantized == 0 else math.inf
    return (quantized - reference) / reference * 100


def scores(
    targets: dict[str, Target],
    reference: dict[str, np.ndarray],
    quantized: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    max_drop: float,
) -> list[Score]:
    """One `Score` per output of the float network's `reference` and the quantized model's outputs."""
    found = []
    for name, target in targets.items():
        ref = metric(target.task, reference[name], labels[name])
        got = metric(target.task, quantized[name], labels[name])
        found.append(Score(name, METRICS[target.task], ref, got, worse_by(target.task, ref, got), max_drop))
    return found


def check_scores(mode: str, found: list[Score], samples: int) -> None:
    """`ExportCheckFailed` (exit 1) naming each output whose quantized metric is worse than allowed."""
    failed = [s for s in found if not s.worse <= s.allowed]
    if failed:
        lines = "; ".join(f"{s.output}: {s.line()}" for s in failed)
        raise ExportCheckFailed(
            f"the litert export quantized as {mode} is worse than the float network by more than --max-drop on "
            f"{samples} test samples ({lines}); nothing was written"
        )


def export_quantized(
    directory: Path,
    mode: str,
    output: Path | None = None,
    samples: int | None = None,
    max_drop: float | None = None,
) -> QuantizedReport:
    """Exports the run in `directory` as a LiteRT model quantized as `mode` and checks it by the task's metric.

    Args:
        directory: a run directory whose recipe's dataset can still be read (test split with labels; the training
            split too for ``int8``).
        mode: one of `QUANTIZE`.
        output: the ``.tflite`` path (default ``RUN/export/model.tflite``).
        samples: test samples to score on (default: the whole test split, at most `CHECK_SAMPLES`).
        max_drop: the largest allowed loss of accuracy in points (regression: MAE increase in percent); default
            `MAX_DROP`.

    Raises:
        TapelineError: (exit 2) a bad `mode` or `max_drop`, the ``litert`` extra missing, no run, a bad `output`, the
            dataset unreadable.
        ExportCheckFailed: (exit 1) the conversion fails, the model does not run in the LiteRT interpreter, or it is
            worse than the float network by more than `max_drop`. Nothing is written then.
    """
    check_arguments("litert", mode, max_drop, None)
    max_drop = MAX_DROP if max_drop is None else max_drop
    require_extra("litert")
    path = output_path(directory, "litert", output)
    trained = load_trained(directory)
    source = read_source(trained)
    test = labeled_test(trained, source, samples or CHECK_SAMPLES)
    calibration = training_inputs(trained, source, CALIBRATION_SAMPLES) if mode == "int8" else None
    reference = in_batches(partial(network_outputs, trained), test.inputs)
    trained = exported_precision(trained, "litert")
    model = raw_model(trained)
    count = len(next(iter(test.labels.values())))

    def check(staged: Path) -> tuple[list[Score], int]:
        got = in_batches(lambda batch: run_export("litert", staged, batch, trained.names), test.inputs)
        found = scores(trained.targets, reference, got, test.labels, max_drop)
        check_scores(mode, found, count)
        convert("litert", model, staged.with_name("float32.tflite"), write_litert)
        return found, staged.with_name("float32.tflite").stat().st_size

    writer = partial(write_quantized, options=converter_options(mode, calibration))
    found, float_bytes = write_checked("litert", model, path, check, writer)
    report = QuantizedReport(
        path,
        mode,
        count,
        0 if calibration is None else len(next(iter(calibration.values()))),
        found,
        float_bytes,
        path.stat().st_size,
        describe_inputs(model),
        describe_outputs(trained, reference),
    )
    write_json(path.with_name(path.name + ".json"), interface(trained, model, "litert", report.checked()))
    return report


def quantize_command(
    run: Path,
    format: str,
    output: Path | None,
    samples: int | None,
    tolerance: float | None,
    mode: str | None,
    max_drop: float | None,
) -> int:
    """``tapeline export RUN --format litert --quantize MODE [--max-drop P] ...``: prints what was written, both
    metrics and both sizes."""
    check_arguments(format, mode, max_drop, tolerance)
    report = export_quantized(run, mode, output, samples, max_drop)
    print(f"exported {run} as litert quantized ({report.mode}) to {report.path}")
    print(f"  inputs: {'; '.join(report.inputs)}")
    print(f"  outputs: {'; '.join(report.outputs)}")
    calibrated = f", calibrated on {report.calibration} training samples" if report.calibration else ""
    print(
        f"checked in the LiteRT interpreter against the float network in Keras on {report.samples} test samples"
        f"{calibrated}"
    )
    print(report.line())
    return 0
