"""The process-global settings a run changes, put back when it returns.

`framework.run.configure_tensorflow` sets, for the whole process, the Keras dtype policy, op
determinism and the random seeds (Python's, NumPy's, TensorFlow's global seed and Keras's).
`restores_process_settings` puts all of them back after `train` or `evaluate_weights`, so
several runs in one process (tests, sweeps, notebooks) do not inherit each other's settings.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state
from keras.src.random import seed_generator
from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
from tensorflow.python.eager import context as tf_context
from tensorflow.python.framework import config as tf_config

T = TypeVar("T")
KERAS_SEED_ATTRIBUTES = (GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)  # what keras.utils.set_random_seed sets


@contextmanager
def process_settings_kept() -> Iterator[None]:
    """Puts back, on leaving, the dtype policy and op determinism found on entering, Python's and NumPy's random
    states, TensorFlow's global seed (its sequence of op seeds restarts from it) and Keras's seed settings.

    TensorFlow 2.21 has no public getter for its global seed nor a public way to turn op
    determinism off, so this reads and sets them through ``tensorflow.python`` (the functions
    `tf.random.set_seed` and `tf.config.experimental.enable_op_determinism` use).
    """
    policy = keras.mixed_precision.global_policy()
    deterministic = tf_config.is_op_determinism_enabled()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    tf_seed = tf_context.global_seed()
    keras_seeds = {name: global_state.get_global_attribute(name) for name in KERAS_SEED_ATTRIBUTES}
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        (tf_config.enable_op_determinism if deterministic else tf_config.disable_op_determinism)()
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        tf.random.set_seed(tf_seed)
        for name, value in keras_seeds.items():
            global_state.set_global_attribute(name, value)


def restores_process_settings(function: Callable[..., T]) -> Callable[..., T]:
    """Decorator: `function` runs inside `process_settings_kept`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with process_settings_kept():
            return function(*args, **kwargs)

    return wrapper
