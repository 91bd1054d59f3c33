"""`tapeline export`: a run's network with its preprocessing as one model file, checked in its own runtime.

The exported model is `framework.tools.inference.raw_model`: raw inputs → the run's adapted
preprocessing → the trained network, loaded from the run directory alone (no training data). It
is written to a staging path beside the output, loaded in the runtime that will serve it (Keras,
TensorFlow, the LiteRT interpreter, onnxruntime) and run on the raw test samples saved with the
run; its outputs are compared with the trained network's in Keras on the same samples. Only an
export whose largest absolute difference is within the tolerance is moved onto the output path,
with ``<path>.json`` beside it: the inputs (names, dtypes, shapes, how the reader made them), the
outputs (names, what they mean) and the class names.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from framework.errors import TapelineError, error_summary
from framework.extras import pip_install
from framework.files import write_json
from framework.tools.inference import Trained, flat_outputs, load_trained, network_outputs, raw_model

if TYPE_CHECKING:
    import keras


FORMATS = ("keras", "savedmodel", "litert", "onnx")
DEFAULT_PATHS = {"keras": "model.keras", "savedmodel": "saved_model", "litert": "model.tflite", "onnx": "model.onnx"}
SUFFIXES = {"keras": ".keras", "litert": ".tflite"}  # Keras refuses other file names for these
RUNTIMES = {"keras": "Keras", "savedmodel": "TensorFlow", "litert": "the LiteRT interpreter", "onnx": "onnxruntime"}
EXTRAS = {
    "litert": ("ai_edge_litert.interpreter",),
    "onnx": ("tf2onnx", "onnxruntime"),
}  # modules each format's extra installs
FLOAT32_ONLY = (
    "litert",
    "onnx",
)  # their CPU runtimes lack half-precision convolutions: mixed-precision runs are exported computing in float32
TOLERANCE = 1e-4  # float32 runs
HALF_TOLERANCE = 2e-2  # mixed_float16 / mixed_bfloat16 runs: about 3 significant digits
DEFAULT_SAMPLES = 64
T = TypeVar("T")


class ExportCheckFailed(TapelineError):
    """The exported model's outputs differ from the trained network's by more than the tolerance (exit 1)."""

    exit_code = 1


@dataclass
class ExportReport:
    """What `export_run` wrote and how well the written model matched the trained network."""

    path: Path
    format: str
    samples: int
    difference: float
    tolerance: float
    inputs: list[str]
    outputs: list[str]


def require_extra(format: str) -> None:
    """`TapelineError` (exit 2) with the pip command when the packages `format` needs do not import."""
    for module in EXTRAS.get(format, ()):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise TapelineError(
                f"--format {format} needs the '{format}' extra ({error_summary(error)}): {pip_install(format)}"
            ) from None


def default_tolerance(policy: str) -> float:
    """`TOLERANCE` for float32 runs, `HALF_TOLERANCE` for mixed-precision ones (Keras dtype policy name `policy`)."""
    return HALF_TOLERANCE if policy.startswith("mixed") else TOLERANCE


def write_keras(model: keras.Model, path: Path) -> None:
    """A ``.keras`` file (the network's class must be importable where it is loaded)."""
    model.save(path)


def write_savedmodel(model: keras.Model, path: Path) -> None:
    """A TensorFlow SavedModel folder whose ``serve``/``serving_default`` signature takes the named raw inputs."""
    model.export(str(path), format="tf_saved_model", verbose=False)


def write_litert(model: keras.Model, path: Path, **converter: Any) -> None:
    """A LiteRT (``.tflite``) flatbuffer, converted by Keras through TensorFlow's LiteRT converter from a SavedModel;
    `converter`: attributes Keras sets on the ``tf.lite.TFLiteConverter`` (``optimizations``, ``target_spec`` ...)."""
    model.export(str(path), format="litert", verbose=False, **converter)


def write_onnx(model: keras.Model, path: Path) -> None:
    """ONNX converted from the model's SavedModel by tf2onnx's command line (its ``serving_default`` signature).

    tf2onnx runs in its own process: its SavedModel loader freezes what the signature captures
    (adapted Normalization statistics ...), which its in-process ``from_function`` leaves as inputs.
    """
    with tempfile.TemporaryDirectory(prefix="tapeline-savedmodel-") as folder:
        write_savedmodel(model, Path(folder))
        command = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            folder,
            "--signature_def",
            "serving_default",
            "--output",
            str(path),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False
        )
    if done.returncode != 0 or not path.is_file():
        lines = [
            line for line in done.stderr.splitlines() if "ERROR" in line or "Error" in line
        ] or done.stderr.splitlines()[-3:]
        raise ExportCheckFailed(f"tf2onnx could not convert the model (exit {done.returncode}): {' / '.join(lines)}")


def run_keras(path: Path, inputs: dict[str, np.ndarray], names: Any) -> dict[str, np.ndarray]:
    """Outputs of the ``.keras`` file loaded by Keras."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(path)
    return flat_outputs(
        model(tf.nest.pack_sequence_as(names, [inputs[name] for name in tf.nest.flatten(names)]), training=False)
    )


def run_savedmodel(path: Path, inputs: dict[str, np.ndarray], names: Any) -> dict[str, np.ndarray]:
    """Outputs of the SavedModel's ``serving_default`` signature, loaded by TensorFlow."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    return by_output(
        {name: value.numpy() for name, value in signature(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    )


def run_litert(path: Path, inputs: dict[str, np.ndarray], names: Any) -> dict[str, np.ndarray]:
    """Outputs of the ``.tflite`` model run by the LiteRT interpreter (``ai-edge-litert``), whole batch at once."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return by_output(runner(**inputs))


def run_onnx(path: Path, inputs: dict[str, np.ndarray], names: Any) -> dict[str, np.ndarray]:
    """Outputs of the ``.onnx`` model run by onnxruntime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return by_output(dict(zip(names, session.run(None, {name: onnx_strings(a) for name, a in inputs.items()}))))


def onnx_strings(array: np.ndarray) -> np.ndarray:
    """`array` as onnxruntime takes it: string inputs as Python ``str`` (it reads ``bytes`` objects as other strings,
    silently: a correct model then gives other outputs), other inputs as they are."""
    if array.dtype.kind not in "OSU":
        return array
    text = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
    return np.array(text, dtype=object).reshape(array.shape)


def by_output(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """A runtime's named outputs keyed like `framework.tools.inference.flat_outputs` (``output`` when there is one)."""
    if len(outputs) == 1:
        return {"output": np.asarray(next(iter(outputs.values())), np.float32)}
    return {name.split(":")[0]: np.asarray(value, np.float32) for name, value in outputs.items()}


WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "keras": write_keras,
    "savedmodel": write_savedmodel,
    "litert": write_litert,
    "onnx": write_onnx,
}
RUNNERS: dict[str, Callable[[Path, dict[str, np.ndarray], Any], dict[str, np.ndarray]]] = {
    "keras": run_keras,
    "savedmodel": run_savedmodel,
    "litert": run_litert,
    "onnx": run_onnx,
}


def max_difference(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> float:
    """The largest absolute difference over all outputs; `ExportCheckFailed` when names or shapes differ."""
    if set(got) != set(expected):
        raise ExportCheckFailed(f"the exported model's outputs are {sorted(got)}, the network's {sorted(expected)}")
    for name, value in expected.items():
        if got[name].shape != value.shape:
            raise ExportCheckFailed(
                f"output {name!r} of the exported model has shape {got[name].shape}, the network's {value.shape}"
            )
    return max(float(np.max(np.abs(got[name] - value), initial=0.0)) for name, value in expected.items())


def describe_inputs(model: keras.Model) -> list[str]:
    """``name dtype (None, 28, 28, 1)`` for each input of the exported model."""
    return [f"{tensor.name} {tensor.dtype} {tuple(tensor.shape)}" for tensor in model.inputs]


def describe_outputs(trained: Trained, outputs: dict[str, np.ndarray]) -> list[str]:
    """``name float32 (None, 10): probabilities of 10 classes`` for each output (what its values mean, from the run's
    targets)."""
    targets = trained.targets
    meaning = {
        "classification": "probabilities of {units} classes",
        "binary": "probability of class 1",
        "multilabel": "probabilities of {units} labels",
        "regression": "{units} predicted value(s)",
    }
    return [
        f"{name} float32 {(None, *value.shape[1:])}: {meaning[targets[name].task].format(units=targets[name].units)}"
        for name, value in outputs.items()
    ]


def output_path(directory: Path, format: str, output: Path | None) -> Path:
    """`output`, or ``<run>/export/<default name>``; `TapelineError` for a path without the suffix Keras insists on
    (`SUFFIXES`)."""
    path = output if output is not None else directory / "export" / DEFAULT_PATHS[format]
    if format in SUFFIXES and path.suffix != SUFFIXES[format]:
        raise TapelineError(f"--output for --format {format} must end in {SUFFIXES[format]} (got '{path}')")
    return path


def place(staged: Path, path: Path) -> None:
    """Moves the checked export onto `path`, replacing an earlier export there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    os.replace(staged, path)


def export_run(
    directory: Path,
    format: str,
    output: Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    tolerance: float | None = None,
) -> ExportReport:
    """Exports the run in `directory` as `format` and checks it on `samples` raw test samples.

    A mixed-precision run is exported as trained for ``keras`` and ``savedmodel``, and
    computing in float32 for ``litert`` and ``onnx`` (`FLOAT32_ONLY`); either way it is
    compared with the trained network in its own precision.

    Raises:
        TapelineError: no run or no weights in `directory`, an unknown `format`, a missing
            extra (with the pip command), a bad `output` (exit 2).
        ExportCheckFailed: the exported model, loaded in its runtime, differs from the trained
            network by more than `tolerance` (default `TOLERANCE`, `HALF_TOLERANCE` for
            mixed-precision runs), or does not load or run (exit 1). Nothing is written then.
    """
    if format not in FORMATS:
        raise TapelineError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    require_extra(format)
    path = output_path(directory, format, output)
    trained = load_trained(directory)
    raw = trained.samples(samples)
    expected = network_outputs(trained, raw)
    tolerance = default_tolerance(trained.network.dtype_policy.name) if tolerance is None else tolerance
    trained = exported_precision(trained, format)
    model = raw_model(trained)

    def check(staged: Path) -> float:
        return checked_difference(format, run_export(format, staged, raw, trained.names), expected, tolerance)

    difference = write_checked(format, model, path, check)
    count = len(next(iter(expected.values())))
    report = ExportReport(
        path, format, count, difference, tolerance, describe_inputs(model), describe_outputs(trained, expected)
    )
    checked = {"samples": report.samples, "max_difference": report.difference, "tolerance": report.tolerance}
    write_json(path.with_name(path.name + ".json"), interface(trained, model, format, checked))
    return report


def exported_precision(trained: Trained, format: str) -> Trained:
    """`trained`, or for a `FLOAT32_ONLY` format its mixed-precision network rebuilt computing in float32."""
    if format in FLOAT32_ONLY and trained.network.dtype_policy.name != "float32":
        return load_trained(trained.directory, precision="float32")
    return trained


def interface(trained: Trained, model: keras.Model, format: str, checked: dict[str, Any]) -> dict[str, Any]:
    """What ``<export>.json`` says of the exported model: its inputs, how the run's reader made them, its outputs
    and their class names, and `checked` (what the check measured)."""
    return {
        "format": format,
        "inputs": [{"name": t.name, "dtype": str(t.dtype), "shape": list(t.shape)} for t in model.inputs],
        "reading": trained.reading,
        "outputs": {
            name: {"task": t.task, "units": t.units, "class_names": t.class_names}
            for name, t in trained.targets.items()
        },
        "checked": checked,
    }


def write_checked(
    format: str,
    model: keras.Model,
    path: Path,
    check: Callable[[Path], T],
    writer: Callable[[Any, Path], None] | None = None,
) -> T:
    """Writes `model` as `format` (with `writer`, default `WRITERS`) to a staging path beside `path`, calls `check` on
    the staged export and, when it returns, moves the export onto `path`; returns what `check` returned.

    Raises:
        ExportCheckFailed: the conversion fails, or `check` raises it (the export does not run, or differs).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as staging:
        staged = Path(staging) / path.name
        convert(format, model, staged, writer or WRITERS[format])
        result = check(staged)
        place(staged, path)
    return result


def convert(format: str, model: keras.Model, path: Path, writer: Callable[[Any, Path], None]) -> None:
    """`writer(model, path)`; a converter's own error (an op it lacks ...) becomes `ExportCheckFailed`."""
    try:
        writer(model, path)
    except TapelineError:
        raise
    except Exception as error:
        raise ExportCheckFailed(
            f"the model could not be converted to {format}: {error_summary(error)}; nothing was written"
        ) from None


def run_export(format: str, path: Path, inputs: dict[str, np.ndarray], names: Any) -> dict[str, np.ndarray]:
    """The outputs of the export at `path` run in its runtime on `inputs`; `ExportCheckFailed` when it does not run."""
    try:
        return RUNNERS[format](path, inputs, names)
    except Exception as error:
        raise ExportCheckFailed(
            f"the {format} export does not run in {RUNTIMES[format]}: {error_summary(error)}; nothing was written"
        ) from None


def checked_difference(
    format: str, got: dict[str, np.ndarray], expected: dict[str, np.ndarray], tolerance: float
) -> float:
    """The max difference of `got` from `expected`; `ExportCheckFailed` when it is above `tolerance`."""
    difference = max_difference(expected, got)
    if not difference <= tolerance:
        samples = len(next(iter(expected.values())))
        raise ExportCheckFailed(
            f"the {format} export differs from the trained network by up to {difference:.3g} on {samples} test "
            f"samples (tolerance {tolerance:g}); nothing was written"
        )
    return difference


def export_command(run: Path, format: str, output: Path | None, samples: int | None, tolerance: float | None) -> int:
    """``tapeline export RUN [--format F] [--output PATH] [--samples N] [--tolerance T]``: prints what was written and
    the check (`samples` None: `DEFAULT_SAMPLES`)."""
    report = export_run(run, format, output, DEFAULT_SAMPLES if samples is None else samples, tolerance)
    print(f"exported {run} as {report.format} to {report.path}")
    print(f"  inputs: {'; '.join(report.inputs)}")
    print(f"  outputs: {'; '.join(report.outputs)}")
    print(
        f"checked in {RUNTIMES[report.format]} on {report.samples} test samples: max |difference| "
        f"{report.difference:.3g} (tolerance {report.tolerance:g})"
    )
    return 0
