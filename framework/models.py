"""Built-in networks. A model builder is any callable returning a Keras model.

Builders that take ``input_shape`` and/or ``num_classes`` get them from the dataset, so a
recipe only sets the rest. Your own builder works the same way: name it in a recipe as
``model: {name: "mypackage.nets:build"}``. Keras is imported inside each builder, so recipes
naming these models are checked without starting TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by each builder: listing and checking models starts no TensorFlow
    import keras


def seed_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: tuple[int, ...] = (32, 64),
    kernel_size: int = 3,
    units: int = 128,
    activation: str = "relu",
) -> keras.Model:
    """The tutorial's CNN: Conv2D(32,3) -> Conv2D(64,3) -> Flatten -> Dense(128) -> Dense(classes, softmax)."""
    import keras

    convs = [keras.layers.Conv2D(f, kernel_size, activation=activation) for f in filters]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *convs,
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation=activation),
            keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="seed_cnn",
    )


def fast_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    filters: tuple[int, ...] = (32, 64),
    units: int = 256,
    dropout: float = 0.25,
    flip: bool = True,
) -> keras.Model:
    """A cheaper, regularized CNN for the fast recipes.

    Per entry of `filters`: Conv2D(3, same) -> MaxPool(2) -> BatchNorm -> ReLU; then Dropout ->
    Flatten -> Dense(units) -> ReLU -> Dropout -> Dense(classes, softmax). Pooling makes it about
    a quarter of the seed CNN's arithmetic, and normalizing after it a quarter of the batch
    norm's (which is memory-bound and costly on CPU); `flip` mirrors training images left-right
    at random.
    """
    import keras

    blocks: list[keras.layers.Layer] = [keras.layers.RandomFlip("horizontal")] if flip else []
    for width in filters:
        blocks += [keras.layers.Conv2D(width, 3, padding="same", use_bias=False), keras.layers.MaxPooling2D(), keras.layers.BatchNormalization(), keras.layers.ReLU()]
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            *blocks,
            keras.layers.Dropout(dropout),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="fast_cnn",
    )


def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: tuple[int, ...] = (128,),
    activation: str = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """A multilayer perceptron: Flatten -> Dense(units...) with optional dropout -> Dense(classes, softmax)."""
    import keras

    hidden: list[keras.layers.Layer] = []
    for width in units:
        hidden.append(keras.layers.Dense(width, activation=activation))
        if dropout:
            hidden.append(keras.layers.Dropout(dropout))
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Flatten(),
            *hidden,
            keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="mlp",
    )


def builtins() -> dict[str, Callable[..., keras.Model]]:
    """The built-in model builders by name."""
    return {"seed_cnn": seed_cnn, "fast_cnn": fast_cnn, "mlp": mlp}
