"""TensorFlow's process set-up for a recipe: devices, distribution strategy, seeds, determinism and dtype policy."""

from __future__ import annotations

import keras
import tensorflow as tf

from framework.recipe.sections import Recipe
from framework.runtime.distribute import make_strategy, split_cpu
from framework.runtime.precision import resolve_precision


def configure_tensorflow(recipe: Recipe) -> tf.distribute.Strategy:
    """Devices, the distribution strategy, seeds, determinism and precision policy, before anything is built."""
    section = recipe.distribute
    if section.cpu_devices:
        split_cpu(section.cpu_devices)
    strategy = make_strategy(section.strategy, section.devices, section.communication)
    if recipe.seed is not None:
        keras.utils.set_random_seed(recipe.seed)
    if recipe.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(resolve_precision(recipe.training.precision))
    return strategy
