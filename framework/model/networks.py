"""Built-in networks. A model builder is any callable returning a Keras model.

A builder's parameters named like the data's facts are filled in from the data, so a recipe
only sets the rest: ``input_shape`` (one input's per-sample shape, or a dict of them for named
inputs); for one target ``num_outputs`` (classes, 1, labels or values), ``output_activation``
(softmax, sigmoid or linear: see `framework.data.tasks`) and, for classification, ``num_classes``;
for named targets ``outputs`` (``{name: (units, activation)}``). Your own builder works the
same way: name it in a recipe as ``model: {name: "mypackage.nets:build"}``. Keras is imported
inside each builder, so recipes naming these models are checked without starting TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by each builder: listing and checking models starts no TensorFlow
    import keras


Shape = tuple[int | None, ...]


def head(units: int, activation: str, name: str | None = None) -> keras.layers.Layer:
    """The output layer: Dense(units, activation) in float32, also under mixed precision."""
    import keras

    return keras.layers.Dense(units, activation=activation, dtype="float32", name=name)


def output_layers(
    hidden: Any, model: str, num_outputs: int | None, output_activation: str, outputs: dict[str, tuple[int, str]] | None
) -> Any:
    """The output layer on `hidden`, or one per name of `outputs` (a dict of tensors); ValueError naming `model`
    when it gets neither."""
    if outputs:
        return {name: head(units, activation, name=name)(hidden) for name, (units, activation) in outputs.items()}
    if num_outputs is not None:
        return head(num_outputs, output_activation)(hidden)
    raise ValueError(f"`{model}` needs `num_outputs` (one target) or `outputs` (named targets)")


def seed_cnn(
    input_shape: Shape,
    num_outputs: int,
    output_activation: str = "softmax",
    filters: tuple[int, ...] = (32, 64),
    kernel_size: int = 3,
    units: int = 128,
    activation: str = "relu",
) -> keras.Model:
    """The tutorial's CNN: Conv2D(32,3) -> Conv2D(64,3) -> Flatten -> Dense(128) -> Dense(outputs)."""
    import keras

    convs = [keras.layers.Conv2D(f, kernel_size, activation=activation) for f in filters]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *convs,
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation=activation),
            head(num_outputs, output_activation),
        ],
        name="seed_cnn",
    )


def fast_cnn(
    input_shape: Shape,
    num_outputs: int,
    output_activation: str = "softmax",
    filters: tuple[int, ...] = (32, 64),
    units: int = 256,
    dropout: float = 0.25,
    flip: bool = True,
) -> keras.Model:
    """A cheaper, regularized CNN for the fast recipes.

    Per entry of `filters`: Conv2D(3, same) -> MaxPool(2) -> BatchNorm -> ReLU; then Dropout ->
    Flatten -> Dense(units) -> ReLU -> Dropout -> Dense(outputs). Pooling makes it about a
    quarter of the seed CNN's arithmetic, and normalizing after it a quarter of the batch norm's
    (which is memory-bound and costly on CPU), whose training step runs TensorFlow's fused kernel
    (`framework.model.layers.BatchNormalization`); `flip` mirrors training images left-right
    at random.
    """
    import keras

    from framework.model import layers

    blocks: list[keras.layers.Layer] = [keras.layers.RandomFlip("horizontal")] if flip else []
    for width in filters:
        blocks += [
            keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
            keras.layers.MaxPooling2D(),
            layers.BatchNormalization(),
            keras.layers.ReLU(),
        ]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *blocks,
            keras.layers.Dropout(dropout),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dropout(dropout),
            head(num_outputs, output_activation),
        ],
        name="fast_cnn",
    )


def mlp(
    input_shape: Shape | dict[str, Shape] | tuple[Shape, ...],
    num_outputs: int | None = None,
    output_activation: str = "softmax",
    outputs: dict[str, tuple[int, str]] | None = None,
    units: tuple[int, ...] = (128,),
    activation: str = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """A multilayer perceptron: inputs flattened (and concatenated, for several inputs) -> Dense(units...)
    with optional dropout -> one output layer, or one per name of `outputs`."""
    import keras

    if isinstance(input_shape, dict):
        inputs = {name: keras.Input(shape, name=name) for name, shape in input_shape.items()}
    elif input_shape and isinstance(input_shape[0], tuple):  # a list of inputs
        inputs = [keras.Input(shape) for shape in input_shape]
    else:
        inputs = keras.Input(input_shape)
    flat = [
        keras.layers.Flatten()(i)
        for i in (inputs.values() if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else [inputs])
    ]
    hidden = flat[0] if len(flat) == 1 else keras.layers.Concatenate()(flat)
    for width in units:
        hidden = keras.layers.Dense(width, activation=activation)(hidden)
        hidden = keras.layers.Dropout(dropout)(hidden) if dropout else hidden
    return keras.Model(inputs, output_layers(hidden, "mlp", num_outputs, output_activation, outputs), name="mlp")
