"""The first step, tried before a run starts, so that a recipe `validate` accepts also trains.

`check_first_step` trains one step and evaluates one batch with the run's own Trainer, data,
class weights and compiled functions, then puts back every variable it changed: the network's
and the Trainer's weights and other variables (the seed states of Keras's random layers among them) and the
optimizer's slots and step count. TensorFlow's global generator and Python's and NumPy's
random state, which user code may draw from, are not put back. Any error the first
step of `train` would hit is raised before anything is written, as a `RecipeError` at the
recipe line of the component the error comes from (found from the traceback and, for errors
inside a compiled step, from TensorFlow's "op was created at" trace in the message).

The compiled train and test functions it traces are the ones the run then uses (`fit`, and the
final report's ``predict`` pass when there is no validation split), so the check costs one step,
not another trace.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import tempfile
import textwrap
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from framework.data.checks import data_failure
from framework.errors import Problem, RecipeError, error_summary
from framework.recipe.components import components
from framework.recipe.registry import (
    DATASETS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    TRAINERS,
    Registry,
)
from framework.recipe.schema import Path, dotted, value_at
from framework.recipe.sections import Recipe
from framework.runtime.compat import build_before_tracing
from framework.runtime.distribute import is_multi_worker
from framework.training.reports import one_pass

if TYPE_CHECKING:
    from framework.data.pipelines import Pipelines
    from framework.model.trainer import Trainer


CREATED_AT = re.compile(r'File "([^"]+)", line \d+|File "?([^",\n]+\.py)"?, line \d+')
KERAS_AREAS: tuple[tuple[Path, str], ...] = (
    (("optimizer",), "/keras/src/optimizers/"),
    (("loss",), "/keras/src/losses/"),
    (("metrics",), "/keras/src/metrics/"),
    (("model",), "/keras/src/layers/"),
    (("model",), "/keras/src/models/"),
    (("dataset",), "/keras/src/trainers/data_adapters/"),
)


def check_first_step(
    recipe: Recipe,
    trainer: Trainer,
    data: Pipelines,
    class_weight: dict[int, float] | None,
    strategy: tf.distribute.Strategy,
    saved_by: str | None = None,
) -> None:
    """One training step and one evaluation batch of `trainer` on `data`, undone afterwards.

    Args:
        recipe: the recipe the run was built from (to place an error at its line).
        trainer: the compiled Trainer, not trained yet or with a resumed state.
        data: the run's pipelines; one training and one test batch are read.
        class_weight: the run's class weights (`training.class_weight`), or None.
        strategy: the strategy the Trainer was built under.
        saved_by: what saves the whole network as a ``.keras`` file during the run (the
            ``checkpoint`` plugin ...), or None; then the network is saved once, to a temporary file.

    Raises:
        DataError: reading the batches fails (a file or record the checks before did not reach).
        RecipeError: either step fails otherwise; at the recipe line of the component the error comes from. Or the
            network cannot be saved while `saved_by` will save it (at the `model` line, with Keras's whole advice).
    """
    with strategy.scope():
        build_before_tracing(trainer, data.train.element_spec)  # the optimizer too, unless that fails
        trainer.build_optimizer()
    variables = list(
        {id(v): v for v in (*trainer.network.variables, *trainer.variables, *trainer.optimizer.variables)}.values()
    )
    saved = [variable.numpy() for variable in variables]
    try:
        with _full_tracebacks():
            trainer.fit(data.train.take(1), epochs=1, class_weight=class_weight, shuffle=False, verbose=0)
            test_one_batch(trainer, data, strategy)
    except Exception as error:  # anything the first step of `train` would raise
        unreadable = data_failure(error, data.source, None)
        if unreadable is not None:
            raise unreadable from None
        raise RecipeError([blame(recipe, error)]) from error
    finally:
        with strategy.scope():
            for variable, value in zip(variables, saved):
                variable.assign(value)
    if saved_by is not None:
        check_saving(recipe, trainer.network, saved_by)


def test_one_batch(trainer: Trainer, data: Pipelines, strategy: tf.distribute.Strategy) -> None:
    """One test batch through the compiled function the run uses next, so that it is traced once: ``evaluate``'s, which
    validates every epoch, or, without a validation split, the final report's labelled ``predict`` pass
    (`framework.training.reports.predict_split`)."""
    if data.validation is None and one_pass(trainer) and not is_multi_worker(strategy):
        trainer.predict_with_labels(data.test.take(1), metrics=True)
    else:
        trainer.evaluate(data.test.take(1), verbose=0)


def check_saving(recipe: Recipe, network: keras.Model, saved_by: str) -> None:
    """Saves `network` to a temporary ``.keras`` file; `RecipeError` at the `model` line, with Keras's whole message
    (its advice on ``get_config``), when it cannot be saved."""
    with tempfile.TemporaryDirectory(prefix="tapeline-save-check-") as folder:
        try:
            network.save(os.path.join(folder, "network.keras"))
        except Exception as error:  # whatever the network's own get_config raises
            advice = textwrap.indent(str(error).strip(), "      ")
            raise RecipeError(
                [
                    Problem(
                        recipe.locate(("model",)),
                        f"`model`: the network cannot be saved as a .keras file, which {saved_by} does "
                        f"every epoch: {type(error).__name__}: {advice}",
                    )
                ]
            ) from None


@contextlib.contextmanager
def _full_tracebacks() -> Iterator[None]:
    """Keras and TensorFlow keep their frames in tracebacks (they filter them out by default)."""
    keras_filtering = keras.config.is_traceback_filtering_enabled()
    tf_filtering = tf.debugging.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    tf.debugging.disable_traceback_filtering()
    try:
        yield
    finally:
        if keras_filtering:
            keras.config.enable_traceback_filtering()
        if tf_filtering:
            tf.debugging.enable_traceback_filtering()


def blame(recipe: Recipe, error: BaseException) -> Problem:
    """The problem for `error`, at the recipe line of the innermost component its trace passes through."""
    path = next((p for file in reversed(_trace_files(error)) if (p := _owner(recipe, file)) is not None), ())
    what = f"`{dotted(path)}`: " if path else ""
    return Problem(recipe.locate(path), f"{what}the first training step fails: {error_summary(error)}")


def _trace_files(error: BaseException) -> list[str]:
    """Source files on `error`'s traceback, then those of the trace in its message (outermost first)."""
    files = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.__traceback__)]
    return files + [a or b for a, b in CREATED_AT.findall(str(error))]


def _owner(recipe: Recipe, file: str) -> Path | None:
    """The recipe section that `file` belongs to: a component's own source file, or a Keras area."""
    for path, registry in _components(recipe):
        source = _source_file(registry, value_at(recipe, (*path, "name")))
        if source and file.endswith(source):
            return path
    return next((path for path, area in KERAS_AREAS if area in file.replace("\\", "/")), None)


def _components(recipe: Recipe) -> list[tuple[Path, Registry]]:
    """Every component of the recipe that a failing step can come from, with its registry."""
    sections = (
        ("model", MODELS),
        ("trainer", TRAINERS),
        ("loss", LOSSES),
        ("metrics", METRICS),
        ("optimizer", OPTIMIZERS),
        ("dataset", DATASETS),
    )
    return [
        (path, registry) for key, registry in sections for path, _ in components(getattr(recipe, key) or [], (key,))
    ]


def _source_file(registry: Registry, name: str) -> str | None:
    """The file defining a component given by import path (built-ins are matched by area instead)."""
    if ":" not in name:
        return None
    try:
        return inspect.getsourcefile(registry.get(name).target)
    except (TypeError, OSError):
        return None
