"""A trained run rebuilt for inference: its network behind its preprocessing, taking raw inputs.

`load_trained` rebuilds a run directory's recipe (`framework.training.run.build_run`: the data, with the
recipe's preprocessing layers adapted again on the training split, deterministic for a given
recipe, and the network) and loads its ``model.weights.h5``. `raw_model` wraps the adapted
preprocessing layers and the network into one functional Keras model whose inputs are what the
dataset reader gives (``uint8`` pixels, decoded images with values 0..255, ...), so that an
exported model and `tapeline predict` take raw inputs. `export` and `predict` build on this.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from framework.data.arrays import Arrays
from framework.data.module import DataModule
from framework.errors import TapelineError, error_summary
from framework.training.run_directory import RECIPE_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    import keras

    from framework.training.run import Run


SINGLE_INPUT = "inputs"  # the name of the exported model's input when the network has one


@dataclass
class Trained:
    """A run directory's run, built from its recipe with its final weights loaded.

    Attributes:
        run: the built run (`run.data.preprocess` adapted, `run.trainer.network` trained).
        source: what the dataset builder returned: `Arrays` or a `DataModule` (raw splits).
        directory: the run directory.
    """

    run: Run
    source: Arrays | DataModule
    directory: Path

    @property
    def names(self) -> Any:
        """The raw inputs' names: one name, a dict of names by key, or a tuple of names (list inputs)."""
        raw = raw_inputs(self.source)
        if isinstance(raw, dict):
            return {key: str(key) for key in raw}
        if isinstance(raw, (list, tuple)):
            return tuple(f"input_{i}" for i in range(len(raw)))
        return SINGLE_INPUT

    def specs(self) -> Any:
        """Per-sample `tf.TensorSpec` (shape without the batch axis, dtype) of each raw input, in the inputs'
        structure."""
        import tensorflow as tf

        raw = raw_inputs(self.source)
        if isinstance(self.source, Arrays):
            return tf.nest.map_structure(lambda a: tf.TensorSpec(np.asarray(a).shape[1:], np.asarray(a).dtype), raw)
        return raw


def raw_inputs(source: Arrays | DataModule) -> Any:
    """The raw test inputs (arrays) of `source`, or the element spec of a `DataModule`'s test inputs."""
    return source.x_test if isinstance(source, Arrays) else source.test.element_spec[0]


def read_run_directory(directory: Path) -> Path:
    """`directory`'s weights file, after checking it is a run directory; `TapelineError` (exit 2) when it is not or has
    no weights."""
    if not directory.is_dir():
        raise TapelineError(f"run directory '{directory}' does not exist")
    if not (directory / RECIPE_FILE).is_file():
        raise TapelineError(f"'{directory}' is not a run directory (no {RECIPE_FILE})")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise TapelineError(
            f"run '{directory}' has no {WEIGHTS_FILE}: it did not finish training (resume it with `tapeline train "
            f"--resume {directory}`)"
        )
    return weights


def load_trained(directory: Path, precision: str | None = None) -> Trained:
    """The run in `directory` rebuilt from its ``recipe.yaml``, with its ``model.weights.h5`` loaded.

    `precision` replaces the recipe's `training.precision` (``float32``: a mixed-precision
    run's network computing in float32; its weights are float32 either way).

    Raises:
        TapelineError: `directory` is no run directory or has no weights, or the weights do
            not fit the rebuilt network; `RecipeError`/`DataError` when the recipe or its data
            cannot be built here (the data files must be where the recipe says).
    """
    from framework.build.network import build_component
    from framework.recipe.loader import load_recipe
    from framework.recipe.registry import DATASETS
    from framework.training.run import build_run

    weights = read_run_directory(directory)
    recipe = load_recipe(directory / RECIPE_FILE)
    if precision is not None:
        recipe = replace(recipe, training=replace(recipe.training, precision=precision))
    run = build_run(recipe)
    try:
        run.trainer.network.load_weights(weights)
    except (ValueError, OSError) as error:
        raise TapelineError(
            f"cannot load '{weights}' into model {recipe.model.name!r}: {error_summary(error)}"
        ) from None
    return Trained(run, build_component(recipe, DATASETS, ("dataset",)), directory)


def apply_layers(layers: list[Any], x: Any) -> Any:
    """`x` through the Keras `layers` (`framework.data.pipelines.Layer`s) in order."""
    for layer in layers:
        x = layer.keras_layer(x)
    return x


def preprocess(layers: Any, inputs: Any) -> Any:
    """`inputs` through the run's preprocessing layers: a list for one input, a dict or tuple of lists for several."""
    if isinstance(layers, list):
        return apply_layers(layers, inputs)
    if not layers:
        return inputs
    if isinstance(inputs, dict):
        return {key: apply_layers(layers[key], value) for key, value in inputs.items()}
    return [apply_layers(group, value) for group, value in zip(layers, inputs)]


def raw_model(trained: Trained) -> keras.Model:
    """One functional Keras model: raw inputs → the run's adapted preprocessing layers → the trained network.

    Inputs: one ``keras.Input`` per raw input, named `Trained.names` (``inputs`` for one
    input, the dict keys for named inputs), with the reader's dtype (``uint8`` for MNIST-style
    arrays, ``float32`` for decoded images). Outputs: the network's output as float32 (cast
    under a mixed-precision policy, as the Trainer does), or for several outputs a dict by
    output name, so every runtime names them alike.
    """
    import keras
    import tensorflow as tf

    from framework.build.network import output_names

    inputs = tf.nest.map_structure(
        lambda spec, name: keras.Input(tuple(spec.shape), dtype=spec.dtype.name, name=name),
        trained.specs(),
        trained.names,
        check_types=False,
    )
    network = trained.run.trainer.network
    outputs = network(
        preprocess(trained.run.data.preprocess, list(inputs) if isinstance(inputs, tuple) else inputs), training=False
    )
    if isinstance(outputs, (list, tuple)):
        outputs = dict(zip(output_names(network, outputs), outputs))
    outputs = tf.nest.map_structure(lambda t: t if t.dtype == "float32" else keras.ops.cast(t, "float32"), outputs)
    return keras.Model(
        list(inputs) if isinstance(inputs, tuple) else inputs, outputs, name=f"{network.name}_with_preprocessing"
    )


def check_samples(trained: Trained, count: int) -> tuple[Any, Any]:
    """The first `count` test samples: raw (from the dataset reader) and as the run's test pipeline preprocesses them.

    Returns:
        ``(raw, preprocessed)``, each an array or a dict/tuple of arrays ``(n, ...)``, n = min(`count`, test samples).
    """
    import tensorflow as tf

    from framework.data.arrays import take

    if isinstance(trained.source, Arrays):
        raw = take(trained.source.x_test, slice(None, count))
    else:
        raw = next(trained.source.test.map(lambda x, *rest: x).take(count).batch(count).as_numpy_iterator())
    preprocessed = next(
        trained.run.data.test.unbatch().map(lambda x, *rest: x).take(count).batch(count).as_numpy_iterator()
    )
    return raw, tf.nest.map_structure(np.asarray, preprocessed)


def network_outputs(trained: Trained, preprocessed: Any) -> dict[str, np.ndarray]:
    """The trained Trainer's outputs on `preprocessed` inputs, keyed like `flat_outputs` (float32 arrays)."""
    from framework.build.network import output_names

    outputs = trained.run.trainer(preprocessed, training=False)
    if isinstance(outputs, (list, tuple)):
        outputs = dict(zip(output_names(trained.run.trainer.network, outputs), outputs))
    return flat_outputs(outputs)


def flat_outputs(outputs: Any) -> dict[str, np.ndarray]:
    """Outputs as ``{name: float32 array}``: ``{"output": a}`` for one output, by output name (dict key) for several."""
    if isinstance(outputs, dict):
        return {str(key): np.asarray(value, np.float32) for key, value in outputs.items()}
    return {"output": np.asarray(outputs, np.float32)}
