"""Small models and losses for tests, named in recipes by import path (``model_helpers:build_subclassed``)."""

from __future__ import annotations

import keras


class SmallNet(keras.Model):
    """A subclassed network as the Keras guides write them: layers made in __init__, weights made on first call."""

    def __init__(self, num_classes: int = 10, width: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(width, activation="relu")
        self.out = keras.layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.hidden(self.flatten(inputs)))


def build_subclassed(num_classes: int, width: int = 16) -> keras.Model:
    """The subclassed `SmallNet`, unbuilt."""
    return SmallNet(num_classes=num_classes, width=width)


def small_cnn(input_shape, num_classes, width: int = 4) -> keras.Model:
    """The README's drop-in model: its last Dense has no dtype='float32'."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(width, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )


def small_backbone_cnn(input_shape, num_classes) -> keras.Model:
    """A head over a nested 4-layer CNN named ``backbone`` (with batch norm), as `training.phases` looks for, called
    with ``training=False`` as `framework.model.backbone` calls its backbone."""
    backbone = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, strides=2),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
        ],
        name="backbone",
    )
    inputs = keras.Input(input_shape)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(backbone(inputs, training=False))
    return keras.Model(inputs, outputs)


def failing_loss(y_true, y_pred):
    """A loss with a bug."""
    raise ValueError("this loss has a bug")


def regularized(input_shape, num_classes) -> keras.Model:
    """A tiny network with an L2 weight penalty and an activity penalty (losses beyond the compiled loss)."""
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Dense(8, activation="relu", kernel_regularizer="l2", activity_regularizer="l2")(
        keras.layers.Flatten()(inputs)
    )
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(hidden))


class HeadNet(keras.Model):
    """A subclassed network taking a layer in `__init__` and no `get_config`: Keras cannot save it as .keras."""

    def __init__(self, head: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.head = head

    def call(self, x):
        return self.head(self.flatten(x))


def head_net(num_classes: int) -> keras.Model:
    """`HeadNet` with a softmax head."""
    return HeadNet(keras.layers.Dense(num_classes, activation="softmax"))
