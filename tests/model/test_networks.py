"""Tests for the built-in networks."""

from __future__ import annotations

import keras
import numpy as np

from framework.model import layers
from framework.model.networks import fast_cnn, mlp, seed_cnn


def test_seed_cnn_is_the_tutorials_model():
    """seed_cnn is Conv2D(32,3) -> Conv2D(64,3) -> Flatten -> Dense(128) -> Dense(10, softmax)."""
    model = seed_cnn((28, 28, 1), 10)
    kinds = [
        (type(layer).__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
        for layer in model.layers
    ]
    assert kinds == [("Conv2D", 32), ("Conv2D", 64), ("Flatten", None), ("Dense", 128), ("Dense", 10)]
    assert model.layers[0].kernel_size == (3, 3) and model.layers[-1].activation is keras.activations.softmax
    assert model.count_params() == 4_738_826


def test_models_are_configurable():
    """Filters, units and classes follow the arguments."""
    assert seed_cnn((8, 8, 1), 3, filters=(2, 4), units=8).output_shape == (None, 3)
    model = mlp((4, 4, 1), 5, units=(7, 6), dropout=0.5)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [7, 6, 5]


def test_fast_cnn_pools_normalizes_and_flips_only_in_training():
    """fast_cnn halves the image per block, and its random flips act in training only."""
    model = fast_cnn((8, 8, 1), 3, filters=(4, 6), units=5, dropout=0.0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[0] == "RandomFlip" and kinds.count("BatchNormalization") == 2 and kinds.count("MaxPooling2D") == 2
    assert sum(isinstance(layer, layers.BatchNormalization) for layer in model.layers) == 2  # the fused one
    assert model.get_layer(index=-3).input.shape == (None, 2 * 2 * 6)  # Flatten after two 2x poolings
    image = np.arange(64, dtype=np.float32).reshape(1, 8, 8, 1)
    flips = model.layers[0]
    assert np.array_equal(flips(image, training=False), image)
    seen = {bytes(np.asarray(flips(image, training=True))) for _ in range(20)}
    assert seen == {bytes(image), bytes(image[:, :, ::-1])}
    assert "RandomFlip" not in [type(layer).__name__ for layer in fast_cnn((8, 8, 1), 3, flip=False).layers]
