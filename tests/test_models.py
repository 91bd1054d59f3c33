"""Tests for the built-in networks."""

from __future__ import annotations

import keras

from framework.models import mlp, seed_cnn


def test_seed_cnn_is_the_tutorials_model():
    """seed_cnn is Conv2D(32,3) -> Conv2D(64,3) -> Flatten -> Dense(128) -> Dense(10, softmax)."""
    model = seed_cnn((28, 28, 1), 10)
    kinds = [(type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None)) for layer in model.layers]
    assert kinds == [("Conv2D", 32), ("Conv2D", 64), ("Flatten", None), ("Dense", 128), ("Dense", 10)]
    assert model.layers[0].kernel_size == (3, 3) and model.layers[-1].activation is keras.activations.softmax
    assert model.count_params() == 4_738_826


def test_models_are_configurable():
    """Filters, units and classes follow the arguments."""
    assert seed_cnn((8, 8, 1), 3, filters=(2, 4), units=8).output_shape == (None, 3)
    model = mlp((4, 4, 1), 5, units=(7, 6), dropout=0.5)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [7, 6, 5]
