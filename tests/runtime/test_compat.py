"""Tests for framework.runtime.compat: every private Keras/TensorFlow name it uses exists, and a missing one is named
clearly."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from framework.errors import TapelineError
from framework.model.trainer import Trainer
from framework.runtime import compat


@pytest.mark.parametrize(("module", "attribute"), compat.PRIVATE_NAMES)
def test_every_private_name_exists_in_the_installed_versions(module, attribute):
    """Each (module, attribute) the compatibility module reaches resolves in the tested Keras and TensorFlow."""
    assert compat.private(module, attribute) is not None


def test_private_instance_attributes_exist_on_a_compiled_trainer():
    """A compiled Trainer has the private loss tracker and strategy Tapeline reads; a strategy has its multi-worker
    test."""
    trainer = Trainer(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    trainer.compile(optimizer="sgd", loss="mse")
    assert isinstance(compat.loss_tracker(trainer), keras.metrics.Mean)
    assert compat.member(trainer, "_distribute_strategy") is None  # no strategy scope: Keras leaves it unset
    assert compat.in_multi_worker_mode(tf.distribute.MultiWorkerMirroredStrategy()) is False


def test_preprocessing_layers_are_told_from_other_layers():
    """Keras's preprocessing layers live where compat looks for them; other layers do not."""
    assert compat.is_preprocessing_layer(keras.layers.Rescaling) and compat.is_preprocessing_layer(
        keras.layers.RandomFlip
    )
    assert not compat.is_preprocessing_layer(keras.layers.Dense)


def test_a_missing_private_name_names_itself_and_the_supported_versions():
    """An attribute a future Keras lacks is a TapelineError naming it, the installed and the supported versions."""
    with pytest.raises(
        TapelineError,
        match=r"has no keras\.src\.utils\.rng_utils\.GONE, which Tapeline uses; Tapeline "
        r"supports tensorflow>=2\.21,<2\.22, keras>=3\.15,<3\.16 \(installed: tensorflow 2\.21\.\d+, keras 3\.15",
    ):
        compat.private("keras.src.utils.rng_utils", "GONE")
    with pytest.raises(TapelineError, match=r"has no keras\.src\.nowhere\.thing"):
        compat.private("keras.src.nowhere", "thing")
    with pytest.raises(TapelineError, match=r"has no keras\.src\.models\.sequential\.Sequential\._gone"):
        compat.member(keras.Sequential(), "_gone")
