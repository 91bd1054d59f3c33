"""Tests for the GradientTape Trainer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from framework.model.trainer import Trainer


def tiny_network(seed: int = 0, regularize: bool = False) -> keras.Model:
    """A small dense network with fixed initial weights."""
    keras.utils.set_random_seed(seed)
    regularizer = keras.regularizers.L2(0.01) if regularize else None
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((8, 6), dtype=np.float32), rng.integers(0, 3, 8).astype(np.int32)


def compiled(network: keras.Model, **kwargs) -> Trainer:
    trainer = Trainer(network)
    trainer.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"], **kwargs
    )
    return trainer


@pytest.mark.parametrize("regularize, jit_optimizer", [(False, False), (True, False), (False, True)])
def test_train_step_matches_hand_written_tape_step(regularize, jit_optimizer):
    """One Trainer step (optimizer in XLA or not) updates weights like the tutorial's tape step, regularization
    included."""
    x, y = batch()
    trainer = Trainer(tiny_network(regularize=regularize), jit_optimizer=jit_optimizer)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    trainer.train_on_batch(x, y)

    network = tiny_network(regularize=regularize)
    optimizer = keras.optimizers.Adam(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, network(x, training=True)) + sum(network.losses)
    grads = tape.gradient(loss, network.trainable_variables)
    optimizer.apply_gradients(zip(grads, network.trainable_variables))

    for got, want in zip(trainer.network.get_weights(), network.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_logs_report_the_mean_loss_over_all_samples():
    """The epoch loss is the mean over every sample, the last partial batch included."""
    x, y = batch()
    trainer = Trainer(tiny_network())
    trainer.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    history = trainer.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0)  # batches of 3, 3, 2
    per_sample = keras.losses.sparse_categorical_crossentropy(y, trainer.predict(x, verbose=0))
    assert history.history["loss"][0] == pytest.approx(float(np.mean(per_sample)), rel=1e-5)


def test_sample_weights_are_used():
    """Zero sample weights leave the weights untouched by the loss."""
    x, y = batch()
    trainer = compiled(tiny_network())
    before = trainer.network.get_weights()
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    trainer.train_on_batch(x, y, sample_weight=np.zeros(8, np.float32))
    for got, want in zip(trainer.network.get_weights(), before):
        np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("options", [{"jit_compile": True}, {"steps_per_execution": 3}])
def test_fit_evaluate_predict_with_compile_options(options):
    """fit, evaluate and predict work with XLA and with several steps per execution, and learn."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 6), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int32)
    trainer = compiled(tiny_network(), **options)
    history = trainer.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(trainer.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    assert trainer.predict(x, verbose=0).shape == (64, 3)


def test_network_saves_and_loads(tmp_path):
    """The trained inner network saves as .keras and loads back with identical predictions."""
    x, y = batch()
    trainer = compiled(tiny_network())
    trainer.train_on_batch(x, y)
    trainer.network.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), trainer.predict(x, verbose=0), rtol=1e-6)


def test_saving_the_trainer_saves_the_network(tmp_path):
    """`Trainer.save` and `save_weights` write the network, which loads without Tapeline; `load_weights` reads them."""
    x, y = batch()
    trainer = compiled(tiny_network())
    trainer.train_on_batch(x, y)
    trainer.save(tmp_path / "model.keras")
    trainer.save_weights(tmp_path / "model.weights.h5")
    expected = trainer.predict(x, verbose=0)
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "model.keras").predict(x, verbose=0), expected, rtol=1e-6
    )
    plain = tiny_network()
    plain.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, rtol=1e-6)
    fresh = compiled(tiny_network())
    fresh.load_weights(tmp_path / "model.keras")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=1e-6)


def test_wraps_functional_and_subclassed_networks():
    """Functional and subclassed networks train inside the Trainer."""
    inputs = keras.Input((6,))
    functional = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3, activation="softmax")

        def call(self, x, training=False):
            return self.dense(x)

    x, y = batch()
    for network in (functional, Subclassed()):
        logs = compiled(network).train_on_batch(x, y, return_dict=True)
        assert np.isfinite(logs["loss"])


def fitted_weights(jit_optimizer: bool, batch_size: int, **optimizer_args) -> list[np.ndarray]:
    """Weights after 2 epochs on 64 fixed samples in stored order."""
    rng = np.random.default_rng(3)
    x, y = rng.random((64, 6), dtype=np.float32), rng.integers(0, 3, 64).astype(np.int32)
    trainer = Trainer(tiny_network(), jit_optimizer=jit_optimizer)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01, **optimizer_args), loss="sparse_categorical_crossentropy")
    trainer.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    return trainer.network.get_weights()


@pytest.mark.parametrize("jit_optimizer", [False, True])
def test_gradient_accumulation_over_4_micro_batches_matches_one_batch(jit_optimizer):
    """`gradient_accumulation_steps: 4` with batches of 8 ends where batches of 32 do."""
    accumulated = fitted_weights(jit_optimizer, 8, gradient_accumulation_steps=4)
    for got, want in zip(accumulated, fitted_weights(jit_optimizer, 32), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    with pytest.raises(AssertionError):  # without accumulation, batches of 8 end elsewhere
        np.testing.assert_allclose(fitted_weights(jit_optimizer, 8)[0], accumulated[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm"])
def test_gradient_clipping_bounds_each_update(clip):
    """With SGD at learning rate 1, a clipped step moves the weights by at most the clip norm."""
    x, y = batch()
    moves = {}
    for limit in (None, 1e-3):
        trainer = Trainer(tiny_network())
        trainer.compile(optimizer=keras.optimizers.SGD(1.0, **{clip: limit}), loss="sparse_categorical_crossentropy")
        before = trainer.network.get_weights()
        trainer.train_on_batch(x, y)
        moves[limit] = [np.linalg.norm(a - b) for a, b in zip(trainer.network.get_weights(), before)]
    assert max(moves[None]) > 1e-2
    total = np.linalg.norm(moves[1e-3]) if clip == "global_clipnorm" else max(moves[1e-3])
    assert total <= 1e-3 * (1 + 1e-4)


def test_mixed_float16_scales_the_loss_inside_the_step():
    """Under mixed_float16 the optimizer scales the loss, and a step matches float32 closely."""
    x, y = batch()
    reference = compiled(tiny_network())
    reference.train_on_batch(x, y)
    keras.mixed_precision.set_global_policy("mixed_float16")
    trainer = compiled(tiny_network())
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    trainer.train_on_batch(x, y)
    assert float(trainer.optimizer.dynamic_scale) == 2.0**15  # the default scale: no overflow
    for got, want in zip(trainer.network.get_weights(), reference.network.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-3)
