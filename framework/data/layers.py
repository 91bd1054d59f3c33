"""A run's preprocessing and augmentation layers: Keras layers chained per input, adapted on the training inputs,
and applied to batches or to a functional model's inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

Transform = Callable[[Any], Any]
Layers = list["Layer"] | dict[str, list["Layer"]] | tuple[list["Layer"], ...]


def chain(layers: list[Layer], inputs: tf.data.Dataset) -> Transform | None:
    """The layers applied one after another; each layer that `Layer.adapt` marks is adapted first,
    on the batched training `inputs` as the layers before it leave them (never on validation or test)."""
    for layer in layers:
        if layer.adapt:
            layer.keras_layer.adapt(inputs)
        inputs = inputs.map(layer.keras_layer)
    if not layers:
        return None

    def apply(x: Any) -> Any:
        for layer in layers:
            x = layer.keras_layer(x)
        return x

    return apply


def chain_each(layers: Layers, train: tf.data.Dataset) -> Transform | None:
    """`chain` for one input (`layers` a list), or for each of several inputs (a dict or tuple of
    lists, one per input: every input gets layers of its own, adapted on its own values)."""
    inputs = train.map(lambda x, *rest: x)
    if isinstance(layers, list):
        return chain(layers, inputs)
    keys = list(layers) if isinstance(layers, dict) else list(range(len(layers)))
    steps = {
        key: chain(layers[key], inputs.map(lambda *x, key=key: (x[0] if len(x) == 1 else x)[key])) for key in keys
    }  # tf.data spreads tuples over arguments
    if all(step is None for step in steps.values()):
        return None

    def apply(x: Any) -> Any:
        done = {key: steps[key](x[key]) if steps[key] else x[key] for key in keys}
        return done if isinstance(x, dict) else tuple(done[key] for key in keys)

    return apply


@dataclass(frozen=True)
class Layer:
    """A Keras preprocessing layer and whether to `adapt` it on the training inputs (Normalization without a mean
    ...)."""

    keras_layer: Any
    adapt: bool = False


def apply_layers(layers: list[Layer], x: Any) -> Any:
    """`x` through the Keras `layers` in order."""
    for layer in layers:
        x = layer.keras_layer(x)
    return x


def apply_preprocess(layers: Layers, inputs: Any) -> Any:
    """`inputs` through a run's preprocessing layers: a list for one input, a dict or tuple of lists for several."""
    if isinstance(layers, list):
        return apply_layers(layers, inputs)
    if not layers:
        return inputs
    if isinstance(inputs, dict):
        return {key: apply_layers(layers[key], value) for key, value in inputs.items()}
    return [apply_layers(group, value) for group, value in zip(layers, inputs)]
