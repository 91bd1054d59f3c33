"""Layers of the built-in networks that Keras has no fast form of on the CPU.

`BatchNormalization` here is Keras's `BatchNormalization` whose training step runs TensorFlow's
fused kernel (``FusedBatchNormV3``, oneDNN's on x86), as ``tf.keras`` did by default before Keras 3
(``fused=True``). Keras 3 computes the batch's moments and the normalization from a dozen
element-wise ops, each a pass over memory: measured on an Intel Xeon with AMX (2 cores,
2026-12-04), forward and backward of a (256, 14, 14, 32) bfloat16 batch took 10.9 ms that way
and 3.0 ms fused (1.6 ms for the same tape without the layer).

Keras saves the layer as its own ``keras.layers.BatchNormalization`` (the same weights and the
same inference), so a ``.keras`` file holding one opens without Tapeline
(`framework.runtime.compat.save_as_keras_class`); the class keeps Keras's name because the file
stores each layer's weights under its class's name.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from framework.runtime.compat import save_as_keras_class


class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights and results) with a fused training step.

    The fused kernel serves the common case: training, a 4-D input (batch, height, width,
    channels) normalized over its last axis, no mask, no renormalization, no synchronized moments;
    everything else, inference included, is Keras's own code. The moving mean and variance are
    updated as Keras does (``moving = moving * momentum + batch * (1 - momentum)``, with the
    batch's biased variance); the output agrees with Keras's to float rounding (bfloat16 inputs
    are normalized in float32 by both).
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        """The normalized `inputs`, of their shape, in the layer's compute dtype."""
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = self.gamma if self.scale else tf.ones([channels])
        offset = self.beta if self.center else tf.zeros([channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(scale, "float32"), tf.cast(offset, "float32"), epsilon=self.epsilon, is_training=True
        )
        count = tf.cast(tf.size(inputs) // channels, "float32")
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)  # the kernel returns Bessel's (unbiased) variance
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(tf.cast(moving, "float32") * self.momentum + batch * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs: Any, mask: Any) -> bool:
        """Whether the fused kernel computes what Keras's code would for `inputs`."""
        axis = self.axis if isinstance(self.axis, int) else None
        return (
            keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and axis in (-1, 3)
            and inputs.shape[-1] is not None
            and mask is None
            and not self.renorm
            and not self.synchronized
            and inputs.dtype in (tf.float32, tf.bfloat16, tf.float16)
        )


save_as_keras_class(BatchNormalization, "keras.layers.BatchNormalization")
