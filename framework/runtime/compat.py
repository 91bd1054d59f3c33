"""Every private Keras and TensorFlow API Tapeline uses, in one place, each checked when it is used.

Tapeline is tested with the versions `SUPPORTED` names (setup.cfg pins them). Private names
can change in any release; each is reached here through `private`, which raises a
`TapelineError` naming the missing name, the installed versions and the supported ones, rather
than an ``AttributeError`` deep inside training. `PRIVATE_NAMES` lists them all;
tests/runtime/test_compat.py checks that each exists in the installed versions.

What each is for:

- ``keras.src.trainers.data_adapters.tf_dataset_adapter.make_class_weight_map_fn``: class
  weights as sample weights on a per-worker dataset (Keras cannot map a distributed dataset).
- ``Trainer._maybe_symbolic_build`` (overridden by `OwnBatchBuild`) and its
  ``_distribute_strategy``: Keras 3.15 builds a distributed model from the batch averaged
  across workers, which fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585).
- ``Trainer._symbolic_build``: creates the compiled metrics' and loss's variables from the
  data's element spec before the first step is traced (`build_before_tracing`).
- ``Trainer._loss_tracker``: the running loss, which ``Trainer.update_metrics`` updates with
  the loss Tapeline computes.
- ``MultiWorkerMirroredExtended._in_multi_worker_mode``: Keras's own test for a strategy
  spanning several processes.
- ``keras.src.backend.common.global_state``, ``keras.src.random.seed_generator`` and
  ``keras.src.utils.rng_utils.GLOBAL_RANDOM_SEED``: Keras's global seed settings, which
  `keras.utils.set_random_seed` sets and no public API reads back.
- ``tensorflow.python.eager.context.global_seed`` and ``tensorflow.python.framework.config``
  (``is_op_determinism_enabled``, ``disable_op_determinism``): TensorFlow 2.21 has no public
  getter for its global seed nor a public way to turn op determinism off.
- ``tensorflow.python.eager.context.context`` (``set_config_key_value``, ``get_config_key_value``,
  ``report_error_to_cluster``): the key-value store of TensorFlow's coordination service, which
  ``MultiWorkerMirroredStrategy`` starts; workers agree through it on the step at which all save
  on SIGTERM, as TensorFlow's own ``PreemptionCheckpointHandler`` does, and a worker whose
  training failed tells the others, whose collectives would otherwise wait for it.
- ``keras.src.layers.preprocessing``: the module Keras's preprocessing layers live in, which
  tells them from other layers.
- ``keras.src.api_export.REGISTERED_OBJS_TO_NAMES``: the public name Keras saves each of its
  classes under; `save_as_keras_class` adds a Tapeline subclass that computes what its Keras
  class does, so that a ``.keras`` file holding it opens without Tapeline.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from framework.errors import TapelineError

SUPPORTED = {"tensorflow": ">=2.21,<2.22", "keras": ">=3.15,<3.16"}
KERAS_DATA_ADAPTER = "keras.src.trainers.data_adapters.tf_dataset_adapter"
KERAS_GLOBAL_STATE = "keras.src.backend.common.global_state"
KERAS_SEED_GENERATOR = "keras.src.random.seed_generator"
KERAS_RNG_UTILS = "keras.src.utils.rng_utils"
TF_EAGER_CONTEXT = "tensorflow.python.eager.context"
TF_CONFIG = "tensorflow.python.framework.config"
KERAS_TF_TRAINER = "keras.src.backend.tensorflow.trainer"
KERAS_TRAINER = "keras.src.trainers.trainer"
PREPROCESSING_MODULE = "keras.src.layers.preprocessing."
KERAS_API_EXPORT = "keras.src.api_export"
# (module, attribute) of every private name reached through `private`
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    (KERAS_DATA_ADAPTER, "make_class_weight_map_fn"),
    (KERAS_GLOBAL_STATE, "get_global_attribute"),
    (KERAS_GLOBAL_STATE, "set_global_attribute"),
    (KERAS_SEED_GENERATOR, "GLOBAL_SEED_GENERATOR"),
    (KERAS_RNG_UTILS, "GLOBAL_RANDOM_SEED"),
    (TF_EAGER_CONTEXT, "global_seed"),
    (TF_EAGER_CONTEXT, "context"),
    (TF_EAGER_CONTEXT, "Context.set_config_key_value"),
    (TF_EAGER_CONTEXT, "Context.get_config_key_value"),
    (TF_EAGER_CONTEXT, "Context.report_error_to_cluster"),
    (TF_CONFIG, "is_op_determinism_enabled"),
    (TF_CONFIG, "enable_op_determinism"),
    (TF_CONFIG, "disable_op_determinism"),
    (KERAS_TF_TRAINER, "TensorFlowTrainer._maybe_symbolic_build"),
    (KERAS_TRAINER, "Trainer._symbolic_build"),
    (KERAS_API_EXPORT, "REGISTERED_OBJS_TO_NAMES"),
    (
        "tensorflow.python.distribute.collective_all_reduce_strategy",
        "CollectiveAllReduceExtended._in_multi_worker_mode",
    ),
)


def installed() -> str:
    """``tensorflow X, keras Y`` as installed (``not installed`` for a missing one)."""

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return ", ".join(f"{name} {of(name)}" for name in SUPPORTED)


def unsupported(what: str) -> TapelineError:
    """The error for a private name `what` that this Keras or TensorFlow lacks."""
    wanted = " ".join(f"'{name}{spec}'" for name, spec in SUPPORTED.items())
    return TapelineError(
        f"this Keras/TensorFlow has no {what}, which Tapeline uses; Tapeline supports "
        f"{', '.join(f'{name}{spec}' for name, spec in SUPPORTED.items())} (installed: {installed()}); "
        f"pip install {wanted}"
    )


def private(module: str, attribute: str) -> Any:
    """The private `attribute` (dotted for a class's member) of `module`.

    Raises:
        TapelineError: the module or attribute does not exist in the installed versions; the
            message names it and the supported versions.
    """
    try:
        value: Any = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise unsupported(f"{module}.{attribute}") from None
    return value


def member(obj: Any, attribute: str) -> Any:
    """`obj`'s private `attribute`, or `TapelineError` naming it and the supported versions."""
    try:
        return getattr(obj, attribute)
    except AttributeError:
        raise unsupported(f"{type(obj).__module__}.{type(obj).__qualname__}.{attribute}") from None


# --- Keras ----------------------------------------------------------------------------------


def class_weight_map_fn(class_weight: dict[int, float]) -> Callable[..., Any]:
    """Keras's own map function that turns `class_weight` into sample weights of ``(x, y[, w])`` batches."""
    return private(KERAS_DATA_ADAPTER, "make_class_weight_map_fn")(class_weight)


def build_before_tracing(model: Any, element_spec: Any) -> None:
    """Creates the compiled model's metric, loss and optimizer variables for batches of `element_spec` (a tf.data
    ``(x, y[, sample_weight])`` element spec), as Keras does under a distribution strategy.

    Without one, Keras 3.15 creates them while tracing the first step, and TensorFlow traces a
    function that creates variables twice (once to lift their initializers): for the seed CNN a
    second trace of the whole train step. When the symbolic build fails (a loss that does not fit
    the labels ...) nothing is raised: the first step then builds them while tracing, twice, and
    raises the error with its own trace. `TapelineError` when Keras has no such method.
    """
    symbolic_build = member(model, "_symbolic_build")
    with contextlib.suppress(Exception):  # see above: the real step reports it, at the recipe line it comes from
        symbolic_build(data_batch=element_spec)


def loss_tracker(model: Any) -> Any:
    """The compiled model's running loss metric (a `keras.metrics.Mean`)."""
    return member(model, "_loss_tracker")


def is_preprocessing_layer(cls: type) -> bool:
    """Whether the Keras layer class `cls` is one of Keras's preprocessing layers (`keras.layers.Rescaling` ...)."""
    return cls.__module__.startswith(PREPROCESSING_MODULE)


def save_as_keras_class(cls: type, public_name: str) -> type:
    """`cls`, which Keras from now on saves as its public class `public_name` (``"keras.layers.BatchNormalization"``):
    a ``.keras`` file holding one loads, with or without Tapeline, as that Keras class. `TapelineError` when Keras has
    no such registry."""
    private(KERAS_API_EXPORT, "REGISTERED_OBJS_TO_NAMES")[cls] = public_name
    return cls


def keras_seed_settings() -> dict[str, Any]:
    """Keras's global seed settings (what `keras.utils.set_random_seed` sets), to put back with
    `set_keras_seed_settings`."""
    get = private(KERAS_GLOBAL_STATE, "get_global_attribute")
    return {name: get(name) for name in keras_seed_names()}


def set_keras_seed_settings(settings: dict[str, Any]) -> None:
    """Puts back what `keras_seed_settings` returned."""
    put = private(KERAS_GLOBAL_STATE, "set_global_attribute")
    for name, value in settings.items():
        put(name, value)


def keras_seed_names() -> tuple[str, str]:
    """The names of Keras's global seed attributes."""
    return private(KERAS_RNG_UTILS, "GLOBAL_RANDOM_SEED"), private(KERAS_SEED_GENERATOR, "GLOBAL_SEED_GENERATOR")


class OwnBatchBuild:
    """Mixin for `keras.Model` subclasses (before it in the bases): builds a distributed model from this
    worker's own first batch.

    Keras 3.15 averages the first batch across workers before building, which fails under
    ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585). The iterator Keras passes yields
    ``(begin_step, end_step, iterator)`` since Keras 3.11. A Keras without the method it overrides
    fails when a subclass is defined, with the supported versions (`private`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        private(KERAS_TF_TRAINER, "TensorFlowTrainer._maybe_symbolic_build")

    def _maybe_symbolic_build(self, iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None and data_batch is None and member(self, "_distribute_strategy") is not None:
            _, _, batches = next(iter(iterator))
            data_batch = self.distribute_strategy.experimental_local_results(next(batches))[0]
        super()._maybe_symbolic_build(data_batch=data_batch)  # type: ignore[misc]


# --- TensorFlow ------------------------------------------------------------------------------


def in_multi_worker_mode(strategy: Any) -> bool:
    """Whether a ``MultiWorkerMirroredStrategy`` spans several processes (Keras's own test)."""
    return bool(member(strategy.extended, "_in_multi_worker_mode")())


def tf_global_seed() -> int | None:
    """TensorFlow's global seed (what `tf.random.set_seed` set), or None."""
    return private(TF_EAGER_CONTEXT, "global_seed")()


def op_determinism_enabled() -> bool:
    """Whether `tf.config.experimental.enable_op_determinism` is in effect."""
    return bool(private(TF_CONFIG, "is_op_determinism_enabled")())


def set_op_determinism(enabled: bool) -> None:
    """Turns op determinism on or off (TensorFlow's public API can only turn it on)."""
    private(TF_CONFIG, "enable_op_determinism" if enabled else "disable_op_determinism")()


def set_cluster_value(key: str, value: str) -> None:
    """Stores `value` under `key` in the cluster's coordination service (`tf.errors.AlreadyExistsError` if `key` is
    set)."""
    private(TF_EAGER_CONTEXT, "context")().set_config_key_value(key, value)


def cluster_value(key: str, timeout_ms: int = 0) -> str:
    """The value of `key` in the cluster's coordination service, waiting until some task sets it (`timeout_ms` 0:
    for ever; else `tf.errors.DeadlineExceededError` after it)."""
    return private(TF_EAGER_CONTEXT, "context")().get_config_key_value(key, timeout_ms)


def report_cluster_error(message: str) -> None:
    """Tells every task of the cluster that this one failed with `message` (their collectives stop waiting)."""
    import tensorflow as tf

    private(TF_EAGER_CONTEXT, "context")().report_error_to_cluster(tf.errors.UNKNOWN, message)
