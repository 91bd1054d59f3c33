"""The Trainer: a `keras.Model` wrapping any network with an explicit GradientTape step."""

from __future__ import annotations

from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from framework.runtime.compat import OwnBatchBuild, build_before_tracing, loss_tracker
from framework.runtime.distribute import is_multi_worker


def trainers() -> dict[str, type]:
    """The built-in Trainer (``default``); recipes name subclasses by import path."""

    return {"default": Trainer}


class Trainer(OwnBatchBuild, keras.Model):
    """Trains `network` (any Keras model) with `fit`, `evaluate` and `predict`.

    `train_step` is the tutorial's loop written once, compiled by Keras: forward pass under a
    `tf.GradientTape`, the compiled loss plus the network's regularization losses, gradients,
    `apply_gradients`, metric updates. The Trainer only adds the training logic: `save`,
    `save_weights` and `load_weights` act on the network, so ``trainer.save("model.keras")``
    (and Keras's ``ModelCheckpoint``) writes the network, loadable with
    ``keras.saving.load_model`` without Tapeline.
    """

    def __init__(self, network: keras.Model, jit_optimizer: bool = False, **kwargs: Any) -> None:
        """`jit_optimizer` compiles just the optimizer's update with XLA (the rest of the step is not)."""
        super().__init__(**kwargs)
        self.network = network
        self.jit_optimizer = jit_optimizer
        self._xla_update: tf.types.experimental.GenericFunction | None = None
        self._labelled: Literal["labels", "metrics"] | None = None  # what `predict_step` adds in `predict_with_labels`
        self._labelled_functions: dict[str, Any] = {}  # `predict_with_labels`'s compiled predict, by `_labelled`

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Keras's ``compile``; also forgets `predict_with_labels`'s compiled functions, which use the old metrics."""
        super().compile(*args, **kwargs)
        self._labelled_functions = {}

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The network's output for `inputs`, float32 under a mixed-precision policy.

        Under ``mixed_float16``/``mixed_bfloat16`` a network whose last layer has no
        ``dtype="float32"`` outputs half precision; the loss, metrics and `predict` get float32,
        as Keras's mixed-precision guide advises. The network itself is left as it is.
        """
        return tf.nest.map_structure(to_float32, self.network(inputs, training=training))

    @property
    def output_names(self) -> list[str] | None:
        """The network's output names (Keras matches per-output losses, metrics and labels to them)."""
        return getattr(self.network, "output_names", None)

    def save(self, filepath: str, overwrite: bool = True, **kwargs: Any) -> None:
        """Saves the network (not this wrapper) to a ``.keras`` file, loadable without Tapeline.

        Keras callbacks given the Trainer (``ModelCheckpoint``) save what users expect: their model.
        """
        self.network.save(filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath: str, overwrite: bool = True, max_shard_size: float | None = None) -> None:
        """Saves the network's weights, in the network's own layout (``network.load_weights`` reads them)."""
        self.network.save_weights(filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath: str, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Loads weights saved by `save_weights` or by the network itself (``.weights.h5`` or ``.keras``)."""
        self.network.load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

    def train_step(self, data: Any) -> dict[str, Any]:
        """One optimization step on a batch; returns the running metrics."""
        # Unpack
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            # Forward
            y_pred = self(x, training=True)
            # Loss (compiled + regularization; Keras divides it by the replicas), as this replica's
            # share of the global batch's mean, then scaled for float16 when the policy asks
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled_loss = self.optimizer.scale_loss(loss * global_batch_share(x, loss.dtype))
        # Gradients
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        # Update
        self.apply_update(gradients)
        # Metrics
        return self.update_metrics(x, y, y_pred, sample_weight, loss)

    def apply_update(self, gradients: list[tf.Tensor]) -> None:
        """``optimizer.apply_gradients``, as its own XLA cluster when `jit_optimizer` is set.

        On CPU, XLA fuses Adam's many small element-wise ops (measured: a third of a batch-32
        step without it), while oneDNN's convolutions stay faster outside XLA. Under a
        distribution strategy the update aggregates across replicas, which cannot happen
        inside a nested compiled function, so it runs as it is.
        """
        if not self.jit_optimizer or tf.distribute.has_strategy():
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
            return
        self.build_optimizer()  # the slots are created while the step is traced, not inside XLA
        if self._xla_update is None:
            self._xla_update = tf.function(
                lambda grads: self.optimizer.apply(grads, self.trainable_variables), jit_compile=True
            )
        self._xla_update(gradients)

    def build_optimizer(self) -> None:
        """Creates the optimizer's variables for the trainable weights, unless they exist: Keras's
        ``LossScaleOptimizer`` (``mixed_float16``) would add its step counter and scale again on a second build, and a
        saved state would then not fit."""
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def retrace(self) -> None:
        """Forgets the traced train step and update, so that the next call traces them over the trainable weights
        as they are now (after ``trainable`` flags changed: `framework.training.phases`)."""
        self._xla_update = None
        self.make_train_function(force=True)

    def test_step(self, data: Any) -> dict[str, Any]:
        """Loss and metrics on a batch, without updating weights."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return self.update_metrics(x, y, y_pred, sample_weight, loss)

    def predict_step(self, data: Any) -> Any:
        """The network's output for a batch; inside `predict_with_labels`, ``(output, y)`` or ``(output, y,
        sample_weight)``, and the loss and metrics updated as `test_step` updates them when it asks for metrics."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        if self._labelled is None:
            return y_pred
        if self._labelled == "metrics":
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
            self.update_metrics(x, y, y_pred, sample_weight, loss)
        return (y_pred, y) if sample_weight is None else (y_pred, y, sample_weight)

    def predict_with_labels(self, dataset: tf.data.Dataset, metrics: bool = False) -> tuple[Any, Any, Any]:
        """One pass of ``predict`` over labelled batches: (predictions, labels, sample weights or None) as NumPy arrays
        (dicts or lists for several outputs), so that a report needs no second pass over the data to get the labels.
        With `metrics`, the pass also updates the compiled loss and metrics (not reset first), as ``evaluate`` would.

        A subclass with its own ``predict_step`` gets ``predict`` and a second pass for the labels (no sample weights,
        no metrics).
        """
        if type(self).predict_step is not Trainer.predict_step:
            return self.predict(dataset, verbose=0), labels_of(dataset), None
        if metrics:
            with self.distribute_strategy.scope():  # their variables, before the step is traced (as Keras's evaluate)
                build_before_tracing(self, dataset.element_spec)
        steps, plain = self.steps_per_execution, self.predict_function
        self.steps_per_execution = 1  # Keras unrolls the steps of a predict call: 16 steps, 16 traced copies
        self._labelled = "metrics" if metrics else "labels"
        self.predict_function = self._labelled_functions.get(self._labelled)  # traced once per kind of pass
        try:
            outputs = self.predict(dataset, verbose=0)
        finally:
            self._labelled_functions[self._labelled] = self.predict_function
            self._labelled, self.predict_function, self.steps_per_execution = None, plain, steps
        return (*outputs, None)[:3]

    def update_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any, loss: tf.Tensor) -> dict[str, Any]:
        """Adds the batch to the running loss (weighted by batch size) and the compiled metrics."""
        strategy = tf.distribute.get_strategy()
        loss_tracker(self).update_state(loss * strategy.num_replicas_in_sync, sample_weight=batch_size(x))
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if is_multi_worker(strategy):  # Keras 3.15 averages step outputs across workers over axis 0
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs


def labels_of(dataset: tf.data.Dataset) -> Any:
    """The labels of a batched dataset of (x, y[, sample_weight]), concatenated (NumPy; dicts for named outputs)."""
    labels = [tf.nest.map_structure(np.asarray, y) for y in dataset.map(lambda x, y, *w: y)]
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *labels)


def to_float32(tensor: Any) -> Any:
    """`tensor` cast to float32 when it is a half-precision float tensor, else as it is."""
    if getattr(tensor, "dtype", None) in (tf.float16, tf.bfloat16):
        return tf.cast(tensor, tf.float32)
    return tensor


def batch_size(x: Any) -> tf.Tensor:
    """The number of samples in the batch `x` (a tensor or a structure of them)."""
    return tf.shape(tf.nest.flatten(x)[0])[0]


def global_batch_share(x: Any, dtype: tf.DType) -> tf.Tensor | float:
    """This replica's samples × replicas ÷ the global batch's samples; 1 on a single device.

    Keras divides each replica's mean loss by the number of replicas. Times this factor it is
    the replica's summed loss over the global batch size, exact also when the last, partial
    batch is split unevenly among replicas.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        return 1.0
    local = tf.cast(batch_size(x), dtype)
    return tf.math.divide_no_nan(local * replicas, context.all_reduce(tf.distribute.ReduceOp.SUM, local))
