"""The process-global settings a run changes, put back when it returns.

`framework.training.run.configure_tensorflow` sets, for the whole process, the Keras dtype policy, op
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

from framework.runtime.compat import (
    keras_seed_settings,
    op_determinism_enabled,
    set_keras_seed_settings,
    set_op_determinism,
    tf_global_seed,
)

T = TypeVar("T")


@contextmanager
def process_settings_kept() -> Iterator[None]:
    """Puts back, on leaving, the dtype policy and op determinism found on entering, Python's and NumPy's random
    states, TensorFlow's global seed (its sequence of op seeds restarts from it) and Keras's seed settings.

    TensorFlow 2.21 has no public getter for its global seed nor a public way to turn op
    determinism off, and Keras none for its seed settings: `framework.runtime.compat` reads and
    sets them.
    """
    policy = keras.mixed_precision.global_policy()
    deterministic = op_determinism_enabled()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    tf_seed = tf_global_seed()
    keras_seeds = keras_seed_settings()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        set_op_determinism(deterministic)
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        tf.random.set_seed(tf_seed)
        set_keras_seed_settings(keras_seeds)


def restores_process_settings(function: Callable[..., T]) -> Callable[..., T]:
    """Decorator: `function` runs inside `process_settings_kept`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with process_settings_kept():
            return function(*args, **kwargs)

    return wrapper
