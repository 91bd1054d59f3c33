"""Built-in networks. A model builder is any callable returning a Keras model.

Builders that take ``input_shape`` and/or ``num_classes`` get them from the dataset, so a
recipe only sets the rest. Your own builder works the same way: name it in a recipe as
``model: {name: "mypackage.nets:build"}``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers


def seed_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: tuple[int, ...] = (32, 64),
    kernel_size: int = 3,
    units: int = 128,
    activation: str = "relu",
) -> keras.Model:
    """The tutorial's CNN: Conv2D(32,3) -> Conv2D(64,3) -> Flatten -> Dense(128) -> Dense(classes, softmax)."""
    convs = [layers.Conv2D(f, kernel_size, activation=activation) for f in filters]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *convs,
            layers.Flatten(),
            layers.Dense(units, activation=activation),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="seed_cnn",
    )


def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: tuple[int, ...] = (128,),
    activation: str = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """A multilayer perceptron: Flatten -> Dense(units...) with optional dropout -> Dense(classes, softmax)."""
    hidden: list[layers.Layer] = []
    for width in units:
        hidden.append(layers.Dense(width, activation=activation))
        if dropout:
            hidden.append(layers.Dropout(dropout))
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Flatten(),
            *hidden,
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="mlp",
    )


def builtins() -> dict[str, Callable[..., keras.Model]]:
    """The built-in model builders by name."""
    return {"seed_cnn": seed_cnn, "mlp": mlp}
