"""What a run directory holds for inference, so that `predict` and `export` need neither its data nor a rebuild.

``<run>/inference/`` is written when a run starts (its preprocessing is adapted by then) and read
by `framework.tools.inference`:

- ``preprocess.keras``: a Keras model from the raw inputs (what the dataset reader gives: pixels
  0..255, a CSV row's columns by name) to the network's inputs: the reader's encoder and the
  recipe's adapted preprocessing layers (means, variances, vocabularies);
- ``inference.json``: the raw inputs' names, shapes and dtypes, the network's inputs, the
  targets (task, units, class names, the labels of class ids), how the reader reads new files
  (``reading``: image size, channels, interpolation; CSV columns, dialect, fill values), and the
  precision the run trained in;
- ``samples.npz``: the first raw test samples (up to `SAMPLES`, within `SAMPLE_BYTES`), on
  which `tapeline export` checks an export in its runtime.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.files import write_atomic, write_json

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from framework.data.pipelines import Pipelines

FOLDER = "inference"
PREPROCESS = "preprocess.keras"
INFO = "inference.json"
SAMPLES_FILE = "samples.npz"
SAMPLES = 64
SAMPLE_BYTES = 8 * 2**20  # at most 8 MiB of raw samples
SINGLE_INPUT = "inputs"  # the name of the exported model's input when the network has one


def input_names(raw: Any) -> Any:
    """The raw inputs' names, in their structure: one name, a dict of names by key, or a list of names."""
    if isinstance(raw, dict):
        return {key: str(key) for key in raw}
    if isinstance(raw, (list, tuple)):
        return [f"input_{i}" for i in range(len(raw))]
    return SINGLE_INPUT


def spec_json(spec: tf.TensorSpec) -> dict[str, Any]:
    """A per-sample spec as JSON: ``{"shape": [28, 28, 1], "dtype": "uint8"}`` (None for an unknown size)."""
    return {"shape": list(spec.shape), "dtype": spec.dtype.name}


def preprocessor(data: Pipelines) -> keras.Model:
    """One functional Keras model: raw inputs (named as `input_names`) -> the pipelines' adapted preprocessing."""
    import keras
    import tensorflow as tf

    from framework.data.layers import apply_preprocess

    raw = data.raw_test.element_spec
    names = input_names(raw)
    structure = list(raw) if isinstance(raw, tuple) else raw
    inputs = tf.nest.map_structure(
        lambda spec, name: keras.Input(tuple(spec.shape), dtype=spec.dtype.name, name=name),
        structure,
        names,
        check_types=False,
    )
    return keras.Model(inputs, apply_preprocess(data.preprocess, inputs), name="preprocess")


def first_samples(data: Pipelines) -> dict[str, np.ndarray]:
    """The first raw test samples by input name, as many as `SAMPLES` and `SAMPLE_BYTES` allow."""
    import tensorflow as tf

    spec = data.raw_test.element_spec
    per_sample = sum(
        max(1, int(np.prod([d or 1 for d in s.shape]))) * max(s.dtype.size, 8) for s in tf.nest.flatten(spec)
    )
    count = max(1, min(SAMPLES, SAMPLE_BYTES // per_sample))
    batch = next(data.raw_test.batch(count).take(1).as_numpy_iterator())
    names = tf.nest.flatten(input_names(spec))
    arrays = [np.asarray(a) for a in tf.nest.flatten(batch)]
    return {name: a.astype(str) if a.dtype == object else a for name, a in zip(names, arrays)}


def write_bundle(directory: Path, data: Pipelines, precision: str) -> None:
    """Writes ``<directory>/inference/``: the preprocessing model, what inference needs to know, test samples."""
    import tensorflow as tf

    folder = directory / FOLDER
    folder.mkdir(exist_ok=True)
    raw = data.raw_test.element_spec
    info = {
        "input_names": input_names(raw),
        "raw_inputs": tf.nest.map_structure(spec_json, list(raw) if isinstance(raw, tuple) else raw),
        "network_inputs": tf.nest.map_structure(spec_json, network_specs(data)),
        "targets": [target_json(t) for t in data.read_targets],
        "reading": data.reading,
        "precision": precision,
    }
    write_atomic(folder / PREPROCESS, preprocessor(data).save)
    write_atomic(folder / SAMPLES_FILE, lambda path: np.savez(path, **first_samples(data)))
    write_json(folder / INFO, info)


def network_specs(data: Pipelines) -> Any:
    """The network's per-sample input specs (what the training pipeline gives it), lists for tuples."""
    import tensorflow as tf

    spec = data.train.element_spec[0]
    per_sample = tf.nest.map_structure(lambda s: tf.TensorSpec(s.shape[1:], s.dtype), spec)
    return list(per_sample) if isinstance(per_sample, tuple) else per_sample


def target_json(target: Any) -> dict[str, Any]:
    """A `framework.data.tasks.Target` as JSON data."""
    return json.loads(json.dumps(asdict(target)))
