"""From a checked recipe to the built network, matched with the labels: a model whose outputs do not fit them
is a `RecipeError` at the recipe's `model` line, before anything is trained."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import keras
import tensorflow as tf

from framework.data.pipelines import Pipelines
from framework.data.tasks import Target
from framework.errors import TapelineError, error_summary
from framework.recipe.components import build_component, recipe_error
from framework.recipe.registry import (
    MODELS,
)
from framework.recipe.sections import Recipe
from framework.recipe.signatures import signature_parameters

UNITS = {
    "classification": "one per class",
    "binary": "one 0/1 value",
    "multilabel": "one per label",
    "regression": "one per target value",
}


def build_network(recipe: Recipe, data: Pipelines) -> tuple[keras.Model, Pipelines]:
    """The recipe's network, built for `data`, and the data with its labels keyed by the network's outputs.

    See `make_network` and `matched_targets`; when one set of labels feeds several outputs, every
    output gets the labels.

    Raises:
        RecipeError: the network cannot be built or called on the data's inputs, or its outputs
            do not fit the labels (at the recipe's `model` line).
    """
    network, outputs = make_network(recipe, data.train.element_spec[0], data.targets)
    targets = matched_targets(recipe, network, outputs, data.targets)
    if [t.name for t in targets] != [t.name for t in data.targets]:  # one unnamed target fans out to the outputs
        names = [t.name for t in targets]
        data = replace(data.map_labels(lambda y: {name: y for name in names}), targets=targets)
    return network, data


def make_network(recipe: Recipe, inputs: Any, targets: list[Target]) -> tuple[keras.Model, Any]:
    r"""The recipe's network, built, and its outputs on zeros shaped like `inputs`.

    The model builder gets ``input_shape`` (per sample, from `inputs`: batched `tf.TensorSpec`\ s,
    one or a structure) and, for a single target, ``num_outputs`` and ``output_activation`` (and
    ``num_classes`` for classification), or for named targets ``outputs`` (``{name: (units,
    activation)}``). The network is called once, so that a subclassed network creates its weights.
    """
    target = targets[0] if len(targets) == 1 and targets[0].name is None else None
    injected: dict[str, Any] = {"input_shape": tf.nest.map_structure(lambda spec: tuple(spec.shape[1:]), inputs)}
    if target is None:
        injected["outputs"] = {t.name: (t.units, t.activation) for t in targets}
    else:
        injected |= {"num_outputs": target.units, "output_activation": target.activation}
        if target.task == "classification":
            injected["num_classes"] = target.units
    builder = MODELS.get(recipe.model.name).target
    if "num_classes" not in injected and "num_classes" in _required(builder) and "num_classes" not in recipe.model.args:
        task = target.task if target else "several outputs"
        raise recipe_error(
            recipe,
            ("model",),
            f"model {recipe.model.name!r} needs `num_classes`, but the labels are not one classification target "
            f"({task}); use a builder taking `num_outputs`/`output_activation`",
        )
    network = build_component(recipe, MODELS, ("model",), **injected)
    if not isinstance(network, keras.Model):
        raise TapelineError(f"model {recipe.model.name!r} returned {type(network).__name__}, not a keras.Model")
    try:
        outputs = network(
            tf.nest.map_structure(lambda s: tf.zeros([d or 1 for d in s.shape], s.dtype), inputs), training=False
        )
    except Exception as error:  # whatever the user's call() raises
        shapes = ", ".join(f"{tuple(s.shape[1:])} {s.dtype.name}" for s in tf.nest.flatten(inputs))
        raise recipe_error(
            recipe,
            ("model",),
            f"model {recipe.model.name!r} cannot be called on the data's inputs {shapes}: {error_summary(error)}",
        ) from None
    return network, outputs


def _required(builder: Any) -> set[str]:
    """The parameters `builder` cannot do without."""
    return {name for name, p in (signature_parameters(builder) or {}).items() if p.default is p.empty}


def output_names(network: keras.Model, outputs: Any) -> list[str] | None:
    """The names of the network's outputs: dict keys, Keras's ``output_names``; None for one output."""
    if isinstance(outputs, dict):
        return list(outputs)
    if isinstance(outputs, (list, tuple)):
        return list(getattr(network, "output_names", None) or [str(i) for i in range(len(outputs))])
    return None


def matched_targets(recipe: Recipe, network: keras.Model, outputs: Any, targets: list[Target]) -> list[Target]:
    """One target per network output, each output's size checked against its labels.

    One set of labels and several outputs (deep supervision, auxiliary heads): every output
    learns the same labels (a copy of the target per output name). Named labels must name
    exactly the network's outputs.
    """
    names = output_names(network, outputs)
    named = [t.name for t in targets if t.name is not None]
    model = f"model {recipe.model.name!r}"
    if names is None and named:
        raise recipe_error(
            recipe,
            ("model",),
            f"{model} has one output, but the data has labels for outputs {named}: name the model's outputs after them",
        )
    if names is not None and not named:
        targets = [replace(targets[0], name=name) for name in names]
    elif names is not None and set(names) != set(named):
        raise recipe_error(
            recipe,
            ("model",),
            f"{model} has outputs {names}, but the data has labels for {named}; each output needs labels of the same "
            "name",
        )
    flat = outputs if isinstance(outputs, dict) else dict(zip(names, outputs)) if names else {None: outputs}
    for target in targets:
        _check_units(recipe, model, flat[target.name], target)
    return targets


def _check_units(recipe: Recipe, model: str, output: tf.Tensor, target: Target) -> None:
    units = output.shape[-1] if output.shape.rank > 1 else 1
    if units == target.units and (output.shape.rank > 1 or target.task != "classification"):
        return
    where = "" if target.name is None else f" (output {target.name!r})"
    hint = (
        "; for one sigmoid unit and 0/1 labels set `task: binary`"
        if target.task == "classification" and units == 1
        else ""
    )
    raise recipe_error(
        recipe,
        ("model",),
        f"{model} outputs {units} value(s) per sample{where}, but its {target.task} labels need {target.units} "
        f"({UNITS[target.task]}){hint}",
    )
