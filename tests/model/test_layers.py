"""Tests for the built-in networks' layers."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from framework.model import layers


def train_steps(layer: keras.layers.Layer, x: tf.Tensor, steps: int = 3) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """`steps` training calls of `layer` on `x`: the last output and the gradients of sum(output³) by its weights."""
    for _ in range(steps):
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") ** 3)
    return y, tape.gradient(loss, layer.trainable_variables)


@pytest.mark.parametrize(("policy", "tolerance"), [("float32", 1e-5), ("mixed_bfloat16", 1e-2)])
def test_fused_batch_norm_trains_as_keras_does(policy: str, tolerance: float):
    """Outputs, gradients and moving statistics match Keras's BatchNormalization after three training steps."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        x = tf.random.stateless_normal((16, 5, 5, 3), seed=(1, 2)) * 3.0 + 1.0
        keras_bn, fused = keras.layers.BatchNormalization(momentum=0.9), layers.BatchNormalization(momentum=0.9)
        (y_keras, g_keras), (y_fused, g_fused) = train_steps(keras_bn, x), train_steps(fused, x)
        assert y_fused.dtype == y_keras.dtype
        np.testing.assert_allclose(np.float32(y_fused), np.float32(y_keras), atol=tolerance)
        for mine, theirs in zip(g_fused, g_keras):
            np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=tolerance * 10)
        for mine, theirs in zip(fused.non_trainable_weights, keras_bn.non_trainable_weights):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.float32(fused(x)), np.float32(keras_bn(x)), atol=tolerance)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_fused_batch_norm_leaves_other_cases_to_keras():
    """Inputs the fused kernel does not serve (2-D, a channels-first axis) are normalized by Keras's code."""
    for shape, axis in (((8, 4), -1), ((8, 3, 4, 4), 1)):
        x = tf.random.stateless_normal(shape, seed=(3, 4))
        keras_bn, fused = keras.layers.BatchNormalization(axis=axis), layers.BatchNormalization(axis=axis)
        np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True), atol=1e-5)


def test_a_saved_network_with_fused_batch_norm_loads_without_tapeline(tmp_path):
    """A .keras file holding the layer loads as Keras's BatchNormalization, with its statistics, in a bare process."""
    network = keras.Sequential([keras.Input((4, 4, 2)), layers.BatchNormalization()])
    network(tf.random.stateless_normal((8, 4, 4, 2), seed=(5, 6)) + 2.0, training=True)
    network.save(tmp_path / "network.keras")
    np.save(tmp_path / "mean.npy", network.layers[0].moving_mean.numpy())
    script = (
        "import sys, keras, numpy as np; "
        f"layer = keras.saving.load_model({str(tmp_path / 'network.keras')!r}).layers[0]; "
        "assert type(layer) is keras.layers.BatchNormalization, type(layer); "
        f"np.testing.assert_array_equal(layer.moving_mean, np.load({str(tmp_path / 'mean.npy')!r})); "
        "assert not [m for m in sys.modules if m.startswith('framework')]"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
