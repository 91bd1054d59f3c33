"""A trained run loaded for inference from its own directory: no training data, no adapting, no rebuilt pipelines.

`load_trained` reads what `framework.training.bundle` wrote when the run started (the adapted
preprocessing as ``preprocess.keras``, the inputs, targets and reader in ``inference.json``),
builds the recipe's network for those inputs and targets, and loads ``model.weights.h5``.
`raw_model` joins both into one functional Keras model taking raw inputs (``uint8`` pixels,
decoded images with values 0..255, a CSV row's columns by name) and giving a dict of outputs by
name (``output`` for a single one), so that every runtime names them alike. `export` and
`predict` build on this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.tasks import Target
from framework.errors import TapelineError, error_summary
from framework.training.bundle import FOLDER, INFO, PREPROCESS, SAMPLES_FILE
from framework.training.run_directory import RECIPE_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    import keras

    from framework.recipe.sections import Recipe

SINGLE_OUTPUT = "output"  # the exported model's output name when the network has one


@dataclass
class Trained:
    """A run directory's trained network and what inference needs to know of it.

    Attributes:
        directory: the run directory.
        recipe: its recipe.
        network: the trained network (weights loaded).
        preprocess: raw inputs -> the network's inputs (`framework.training.bundle.preprocessor`).
        names: the raw inputs' names: one name, a dict of names by key, or a list of names.
        specs: per-sample `tf.TensorSpec` of each raw input, in that structure.
        targets: one `Target` per network output, by output name (``output`` for a single one).
        reading: how the run's reader reads new files (`framework.data.module.DataModule.reading`), or None.
    """

    directory: Path
    recipe: Recipe
    network: keras.Model
    preprocess: keras.Model
    names: Any
    specs: Any
    targets: dict[str, Target]
    reading: dict[str, Any] | None

    def samples(self, count: int) -> dict[str, np.ndarray]:
        """The first `count` raw test samples saved with the run, by input name (fewer when fewer were saved)."""
        with np.load(self.directory / FOLDER / SAMPLES_FILE, allow_pickle=False) as archive:
            return {name: archive[name][:count] for name in archive.files}


def read_run_directory(directory: Path) -> Path:
    """`directory`'s weights file, after checking it is a run directory with its inference files.

    Raises:
        TapelineError: (exit 2) `directory` is not a run directory, has no weights, or was trained by an older
            Tapeline that did not write ``inference/`` (train it again, or resume it with more epochs).
    """
    if not directory.is_dir():
        raise TapelineError(f"run directory '{directory}' does not exist")
    if not (directory / RECIPE_FILE).is_file():
        raise TapelineError(f"'{directory}' is not a run directory (no {RECIPE_FILE})")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise TapelineError(
            f"run '{directory}' has no {WEIGHTS_FILE}: it did not finish training (resume it with "
            f"`tapeline train --resume {directory}`)"
        )
    if not (directory / FOLDER / INFO).is_file():
        raise TapelineError(
            f"run '{directory}' has no {FOLDER}/{INFO}: an older Tapeline trained it; train the recipe again"
        )
    return weights


def load_trained(directory: Path, precision: str | None = None) -> Trained:
    """The run in `directory`, its network built from the recipe and ``inference.json`` and its weights loaded.

    Args:
        directory: a run directory.
        precision: a Keras dtype policy replacing the run's (``float32``: a mixed-precision run's
            network computing in float32; its weights are float32 either way).

    Raises:
        TapelineError: not a run directory, no weights, or weights that do not fit the network.
    """
    import keras
    import tensorflow as tf

    from framework.build.network import make_network, matched_targets
    from framework.recipe.loader import load_recipe
    from framework.runtime.process_state import process_settings_kept

    weights = read_run_directory(directory)
    info = json.loads((directory / FOLDER / INFO).read_text())
    recipe = load_recipe(directory / RECIPE_FILE, paths_exist=False)
    read_targets = [
        Target(**{**t, "label_values": tuple(t["label_values"]) if t["label_values"] else None})
        for t in info["targets"]
    ]
    with process_settings_kept():
        keras.mixed_precision.set_global_policy(precision or info["precision"])
        inputs = map_specs(lambda s: tf.TensorSpec([None, *s["shape"]], s["dtype"]), info["network_inputs"])
        network, outputs = make_network(recipe, tuple(inputs) if isinstance(inputs, list) else inputs, read_targets)
        targets = matched_targets(recipe, network, outputs, read_targets)
        try:
            network.load_weights(weights)
        except (ValueError, OSError) as error:
            raise TapelineError(
                f"cannot load '{weights}' into model {recipe.model.name!r}: {error_summary(error)}"
            ) from None
    preprocess = keras.saving.load_model(directory / FOLDER / PREPROCESS)
    specs = map_specs(lambda s: tf.TensorSpec(s["shape"], s["dtype"]), info["raw_inputs"])
    by_name = {t.name or SINGLE_OUTPUT: replace(t) for t in targets}
    return Trained(directory, recipe, network, preprocess, info["input_names"], specs, by_name, info["reading"])


def map_specs(make: Any, value: Any) -> Any:
    """`make` applied to each spec of ``inference.json`` (a mapping with a shape and a dtype) in `value`'s structure."""
    if isinstance(value, dict) and set(value) == {"shape", "dtype"}:
        return make(value)
    if isinstance(value, dict):
        return {key: map_specs(make, item) for key, item in value.items()}
    return [map_specs(make, item) for item in value]


def raw_model(trained: Trained) -> keras.Model:
    """One functional Keras model: raw inputs → the run's adapted preprocessing → the trained network.

    Inputs: the preprocessing model's (named `Trained.names`, ``inputs`` for one input, the dict
    keys for named inputs, with the reader's dtype). Outputs: a dict by output name, ``output``
    for a single output, float32 (cast under a mixed-precision policy, as the Trainer does), so
    that every runtime names them as printed.
    """
    import keras
    import tensorflow as tf

    from framework.build.network import output_names

    inputs = trained.preprocess.input  # the structure the model was built with (one, a dict, a list)
    network = trained.network
    outputs = network(trained.preprocess(inputs), training=False)
    if isinstance(outputs, (list, tuple)):
        outputs = dict(zip(output_names(network, outputs), outputs))
    elif not isinstance(outputs, dict):
        outputs = {SINGLE_OUTPUT: outputs}
    outputs = tf.nest.map_structure(lambda t: t if t.dtype == "float32" else keras.ops.cast(t, "float32"), outputs)
    return keras.Model(inputs, outputs, name=f"{network.name}_with_preprocessing")


def network_outputs(trained: Trained, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trained network's outputs on `raw` samples (by input name) through the preprocessing, by output name
    (float32 arrays): what every export of the run must give."""
    import tensorflow as tf

    inputs = tf.nest.pack_sequence_as(trained.names, [raw[name] for name in tf.nest.flatten(trained.names)])
    return flat_outputs(raw_model(trained)(inputs, training=False))


def flat_outputs(outputs: Any) -> dict[str, np.ndarray]:
    """Outputs as ``{name: float32 array}``: ``{"output": a}`` for one output, by output name (dict key) for several."""
    if isinstance(outputs, dict):
        return {str(key): np.asarray(value, np.float32) for key, value in outputs.items()}
    return {SINGLE_OUTPUT: np.asarray(outputs, np.float32)}
