"""`tapeline predict`: a trained run on new inputs (image files or folders, CSV tables, .npz arrays).

Inputs are read as the run's dataset reads its files (images decoded and resized by
`framework.data.image_folder.load_image`, CSV rows encoded by `framework.data.tables.feature_reader`),
streamed through tf.data in batches into `framework.tools.inference.raw_model` (the run's preprocessing
and trained network), and written as one row per sample (`prediction_row`). An input that cannot
be read is reported with the reason and skipped; the others are still predicted.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from framework.data.images import IMAGE_SUFFIXES, as_bytes, display, image_files
from framework.data.tasks import Target
from framework.errors import DataError, TapelineError
from framework.tools.inference import (
    Trained,
    flat_outputs,
    load_trained,
    raw_model,
    read_run_directory,
)

if TYPE_CHECKING:
    import tensorflow as tf


OUTPUT_FORMATS = (".csv", ".jsonl")
PREFETCH_BATCHES = 2
Failure = tuple[str, str]  # (input, reason)


@dataclass
class Inputs:
    """The command's INPUTs sorted by kind: image files (folders expanded, sorted), CSV files, .npz files."""

    images: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    arrays: list[str] = field(default_factory=list)


@dataclass
class Reader:
    """One source of samples: `samples()` gives unbatched ``(id, raw inputs)`` elements, or raises `DataError`
    when the whole input cannot be read; `unread(seen)` names the items that were skipped, with the reason."""

    name: str
    samples: Callable[[], tf.data.Dataset]
    unread: Callable[[set[str]], list[Failure]] = lambda seen: []


def sort_inputs(paths: list[Path]) -> Inputs:
    """`paths` by kind; a folder gives its image files (sub-folders included, sorted; hidden files and folders
    skipped, as training skips them: `framework.data.images.image_files`).

    Raises:
        TapelineError: a path does not exist, a folder holds no images, or a file is of no known kind.
    """
    inputs = Inputs()
    for path in paths:
        if path.is_dir():
            images, _ = image_files(path)
            if not images:
                raise TapelineError(f"input folder '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)} files)")
            inputs.images += images
        elif not path.is_file():
            raise TapelineError(f"input '{path}' does not exist")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            inputs.images.append(str(path))
        elif path.suffix.lower() in (".csv", ".npz"):
            (inputs.tables if path.suffix.lower() == ".csv" else inputs.arrays).append(str(path))
        else:
            raise TapelineError(
                f"input '{path}' is of no known kind (got suffix {path.suffix!r}); give image files "
                f"({', '.join(IMAGE_SUFFIXES)}) or folders, .csv or .npz files"
            )
    return inputs


def image_reader(trained: Trained, files: list[str]) -> Reader:
    """Image files decoded and resized like the run's images (size, channels, interpolation), as the raw input's
    dtype."""
    import tensorflow as tf

    from framework.data.images import PILLOW, load_image, routes, unreadable_reason

    spec = trained.specs
    if (
        not isinstance(spec, tf.TensorSpec)
        or spec.shape.rank != 3
        or spec.shape[-1] not in (1, 3, 4)
        or None in spec.shape
    ):
        raise TapelineError(
            f"run '{trained.directory}' takes inputs {describe_specs(trained)}, not one image (height, width, "
            "channels): give .npz or .csv files"
        )
    reading = trained.reading if trained.reading and trained.reading["kind"] == "images" else {}
    interpolation = reading.get("interpolation", "bilinear")  # arrays of pixels (MNIST ...): Keras's default
    size, channels = tuple(spec.shape[:2]), spec.shape[-1]

    def load(path: tf.Tensor, way: tf.Tensor | int = PILLOW) -> tf.Tensor:
        image = load_image(path, size, channels, interpolation, way)
        return image if spec.dtype.is_floating else tf.saturate_cast(tf.round(image), spec.dtype)

    def samples() -> tf.data.Dataset:
        paths = tf.data.Dataset.from_tensor_slices((tf.constant(as_bytes(files), tf.string), routes(files, channels)))
        return paths.map(
            lambda path, way: (path, load(path, way)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        ).ignore_errors()

    def unread(seen: set[str]) -> list[Failure]:
        return [(display(file), unreadable_reason(file, channels)) for file in files if display(file) not in seen]

    return Reader(f"{len(files)} image file(s)", samples, unread)


def table_reader(trained: Trained, file: str) -> Reader:
    """A CSV file's rows read as the run's `csv` dataset read its files (the columns by name, missing cells filled as in
    training; `framework.data.tables.read_features`); ids ``file[row]`` (0-based data rows)."""
    import tensorflow as tf

    from framework.data.tables import read_features

    if not trained.reading or trained.reading["kind"] != "csv":
        raise TapelineError(
            f"CSV input '{file}' needs a run trained on the csv dataset (run '{trained.directory}' read "
            f"{trained.recipe.dataset.name!r}); give .npz files"
        )

    def samples() -> tf.data.Dataset:
        rows = read_features(trained.reading, file)
        return rows.enumerate().map(lambda i, x: (tf.strings.join([file, "[", tf.strings.as_string(i), "]"]), x))

    return Reader(file, samples)


def array_reader(trained: Trained, file: str) -> Reader:
    """A .npz file's `x` (or `x_test`) array, or for several inputs its ``x_<input name>`` arrays; ids ``file[row]``."""
    import tensorflow as tf

    def samples() -> tf.data.Dataset:
        arrays = npz_inputs(trained, file)
        rows = len(tf.nest.flatten(arrays)[0])
        return tf.data.Dataset.from_tensor_slices(([f"{file}[{i}]" for i in range(rows)], arrays))

    return Reader(file, samples)


def npz_inputs(trained: Trained, file: str) -> Any:
    """The raw inputs stored in `file`, in the run's input structure and dtypes; `DataError` naming what does not
    fit."""
    import tensorflow as tf

    try:
        with np.load(file, allow_pickle=False) as archive:
            stored = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"not a readable .npz archive: {error}") from None

    def array(spec: tf.TensorSpec, name: str) -> np.ndarray:
        keys = ("x", "x_test") if isinstance(trained.names, str) else (f"x_{name}", f"x_test_{name}")
        key = next((k for k in keys if k in stored), None)
        if key is None:
            raise DataError(f"holds no {' or '.join(keys)} array (it has {', '.join(stored) or 'nothing'})")
        value = stored[key]
        if not spec.shape.is_compatible_with(value.shape[1:]) or not np.can_cast(
            value.dtype, spec.dtype.as_numpy_dtype, "same_kind"
        ):
            raise DataError(
                f"array {key!r} is {value.dtype} {value.shape}; the run takes {spec.dtype.name} (samples, "
                f"{', '.join(map(str, spec.shape))})"
            )
        return value.astype(spec.dtype.as_numpy_dtype)

    arrays = tf.nest.map_structure(array, trained.specs, trained.names)
    if len({len(a) for a in tf.nest.flatten(arrays)}) > 1:
        raise DataError(
            f"its input arrays differ in length ({', '.join(str(len(a)) for a in tf.nest.flatten(arrays))})"
        )
    return tuple(arrays) if isinstance(arrays, list) else arrays


def describe_specs(trained: Trained) -> str:
    """``uint8 (28, 28, 1)``, or ``name: dtype (shape), ...`` for several inputs."""
    import tensorflow as tf

    specs = dict(zip(tf.nest.flatten(trained.names), tf.nest.flatten(trained.specs)))
    text = [f"{spec.dtype.name} {tuple(spec.shape)}" for spec in specs.values()]
    return text[0] if len(text) == 1 else ", ".join(f"{name}: {t}" for name, t in zip(specs, text))


def number(value: Any) -> float:
    """A float32 value as the shortest float that reads back as it (``0.336171``, not ``0.33617100119590759``)."""
    return float(str(np.float32(value)))


def meaning(target: Target, values: np.ndarray) -> dict[str, Any]:
    """One sample's output `values` ``(units,)`` as `target`'s task reads them.

    classification: the predicted ``class`` and ``probabilities`` by class name; binary: the
    ``class`` (probability ≥ 0.5 means the second class) and both ``probabilities``;
    multilabel: the ``labels`` at ≥ 0.5 and every label's probability; regression: ``value``,
    or ``values`` for several.
    """
    names = target.class_names or [str(i) for i in range(target.units)]
    if target.task == "classification":
        return {"class": names[int(np.argmax(values))], "probabilities": {n: number(p) for n, p in zip(names, values)}}
    if target.task == "binary":
        p = np.float32(values[0])
        return {"class": names[int(p >= 0.5)], "probabilities": {names[0]: number(1 - p), names[1]: number(p)}}
    if target.task == "multilabel":
        return {
            "labels": [n for n, p in zip(names, values) if p >= 0.5],
            "probabilities": {n: number(p) for n, p in zip(names, values)},
        }
    return {"value": number(values[0])} if target.units == 1 else {"values": [number(v) for v in values]}


def prediction_row(sample: str, outputs: dict[str, np.ndarray], targets: dict[str, Target]) -> dict[str, Any]:
    """``{"input": sample, ...meaning}`` for one output, or ``{"input": sample, <output>: meaning, ...}`` for
    several."""
    if list(outputs) == ["output"]:
        return {"input": sample, **meaning(targets["output"], outputs["output"])}
    return {"input": sample, **{name: meaning(targets[name], value) for name, value in outputs.items()}}


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A row as CSV columns: nested keys joined by dots, lists of numbers one column each, lists of names joined by
    ';'."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, list) and value and not isinstance(value[0], str):
            flat |= {f"{name}.{i}": v for i, v in enumerate(value)}
        else:
            flat[name] = ";".join(value) if isinstance(value, list) else value
    return flat


def row_writer(stream: IO[str], suffix: str) -> Callable[[dict[str, Any]], None]:
    """A function writing rows to `stream` as JSON lines (``.jsonl``) or CSV (header from the first row)."""
    if suffix == ".jsonl":
        return lambda row: stream.write(json.dumps(row) + "\n")
    writer: list[csv.DictWriter] = []

    def write(row: dict[str, Any]) -> None:
        flat = flatten(row)
        if not writer:
            writer.append(csv.DictWriter(stream, list(flat)))
            writer[0].writeheader()
        writer[0].writerow(flat)

    return write


def readers(trained: Trained, inputs: Inputs) -> Iterator[Reader]:
    """A reader for all image files, then one per CSV and .npz file."""
    if inputs.images:
        yield image_reader(trained, inputs.images)
    for file in inputs.tables:
        yield table_reader(trained, file)
    for file in inputs.arrays:
        yield array_reader(trained, file)


def predict_into(
    write: Callable[[dict[str, Any]], None], trained: Trained, inputs: Inputs, batch_size: int
) -> tuple[int, list[Failure]]:
    """Predicts every readable sample of `inputs` in batches of `batch_size`, writing a row each.

    Returns:
        The number of samples predicted and the ``(input, reason)`` of each unreadable input.
    """
    model = raw_model(trained)
    targets = trained.targets
    count, failures = 0, []
    for reader in readers(trained, inputs):
        try:
            batches = reader.samples().batch(batch_size).prefetch(PREFETCH_BATCHES)
            seen: set[str] = set()
            for ids, x in batches.as_numpy_iterator():
                outputs = flat_outputs(model.predict_on_batch(list(x) if isinstance(x, tuple) else x))
                for i, sample in enumerate(display(id) for id in ids):
                    write(prediction_row(sample, {name: value[i] for name, value in outputs.items()}, targets))
                    seen.add(sample)
            count += len(seen)
            failures += reader.unread(seen)
        except DataError as error:
            failures.append((reader.name, str(error)))
    return count, failures


def predict_run(
    directory: Path, paths: list[Path], output: Path | None = None, batch_size: int = 64
) -> tuple[int, list[Failure]]:
    """Predicts `paths` with the run in `directory`, writing rows to `output` (``.csv``/``.jsonl``, atomically) or CSV
    to stdout.

    Raises:
        TapelineError: no run or weights in `directory`, a missing input, an input of unknown kind,
            an input kind the run cannot take, or an `output` that is not ``.csv``/``.jsonl`` (exit 2).
    """
    from framework.files import write_atomic

    suffix = output.suffix.lower() if output is not None else ".csv"
    if suffix not in OUTPUT_FORMATS:
        raise TapelineError(f"--output must be a .csv or .jsonl file (got '{output}')")
    read_run_directory(directory)
    inputs = sort_inputs(paths)  # before anything is built: bad arguments are reported at once
    trained = load_trained(directory)
    if output is None:
        return predict_into(row_writer(sys.stdout, suffix), trained, inputs, batch_size)
    result: list[tuple[int, list[Failure]]] = []

    def write(path: Path) -> None:
        with path.open("w", newline="") as stream:
            result.append(predict_into(row_writer(stream, suffix), trained, inputs, batch_size))

    write_atomic(output, write)
    return result[0]


def predict_command(run: Path, inputs: list[Path], output: Path | None, batch_size: int) -> int:
    """``tapeline predict RUN INPUT... [--output FILE] [--batch-size N]``: exit 1 when an input could not be read."""
    count, failures = predict_run(run, inputs, output, batch_size)
    for item, reason in failures:
        print(f"tapeline: cannot read '{item}': {reason}", file=sys.stderr)
    where = f"to {output}" if output else "to stdout"
    unread = f"; {len(failures)} input(s) could not be read" if failures else ""
    print(f"predicted {count} sample(s) {where}{unread}", file=sys.stderr if output is None else sys.stdout)
    return 1 if failures else 0
