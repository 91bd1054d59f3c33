"""From a checked recipe and a built network to the compiled Trainer: optimizer, loss, loss weights, metrics, class
weights."""

from __future__ import annotations

import functools
from typing import Any

import keras

from framework.data.pipelines import Pipelines
from framework.data.tasks import DEFAULT_LOSSES, DEFAULT_METRICS, loss_fits
from framework.model.trainer import Trainer
from framework.recipe.components import build_component, recipe_error
from framework.recipe.registry import (
    LOSSES,
    METRICS,
    OPTIMIZERS,
    TRAINERS,
    Registry,
)
from framework.recipe.schema import Path, dotted, value_at
from framework.recipe.sections import XLA_UPDATE_MIN_STEPS, Recipe

LOSS_DEPENDENT = ("accuracy",)  # metric names Keras resolves from the loss and labels


def keras_object(recipe: Recipe, registry: Registry, path: Path) -> Any:
    """A loss or metric for ``compile``: the built class, or the function (with its args bound).

    ``accuracy`` without args goes to Keras as the string, so that it follows the loss and the
    labels as in Keras (sparse categorical, categorical or binary accuracy).
    """
    component = value_at(recipe, path)
    if component.name in LOSS_DEPENDENT and not component.args:
        return component.name
    target = registry.get(component.name).target
    if isinstance(target, type):
        return build_component(recipe, registry, path)
    return functools.partial(target, **component.args) if component.args else target


def _per_output(recipe: Recipe, key: str, value: Any, data: Pipelines) -> dict[str | None, Path]:
    """The recipe path of `key`'s entry for each target: ``(key, name)`` for a per-output mapping, else ``(key,)``."""
    if not isinstance(value, dict):
        return {t.name: (key,) for t in data.targets}
    names = [t.name for t in data.targets]
    unknown = [k for k in value if k not in names]
    if unknown or None in names:
        outputs = "one unnamed output" if None in names else f"outputs {names}"
        raise recipe_error(
            recipe,
            (key, unknown[0]) if unknown else (key,),
            f"`{key}` names outputs {unknown or list(value)}, but the model has {outputs}",
        )
    missing = [n for n in names if n not in value]
    if missing and key == "loss":
        raise recipe_error(recipe, (key,), f"`loss` gives no loss for outputs {missing}; give one per output: {names}")
    return {n: (key, n) for n in names if n in value}


def _structure(data: Pipelines, per_target: dict[str | None, Any]) -> Any:
    return per_target[None] if list(per_target) == [None] else per_target


def build_loss(recipe: Recipe, data: Pipelines) -> Any:
    """The loss for ``compile``: the recipe's (one, or one per output) or each task's default, checked to suit the
    task."""
    if recipe.loss is None:
        return _structure(data, {t.name: DEFAULT_LOSSES[t.task] for t in data.targets})
    paths = _per_output(recipe, "loss", recipe.loss, data)
    for target in data.targets:
        name = value_at(recipe, paths[target.name]).name
        if not loss_fits(name, target.task):
            where = paths[target.name]
            raise recipe_error(
                recipe,
                where,
                f"`{dotted(where)}` {name!r} does not suit the {target.label}: they are a {target.task} target; "
                f"the default for {target.task} is {DEFAULT_LOSSES[target.task]!r} (or set `task`)",
            )
    return _structure(data, {t.name: keras_object(recipe, LOSSES, paths[t.name]) for t in data.targets})


def build_metrics(recipe: Recipe, data: Pipelines) -> Any:
    """The metrics for ``compile``: the recipe's list (for every output, or per output name) or each task's defaults."""
    if recipe.metrics is None:
        return _structure(data, {t.name: list(DEFAULT_METRICS[t.task]) for t in data.targets})
    paths = _per_output(recipe, "metrics", recipe.metrics, data)
    return _structure(
        data,
        {
            t.name: [
                keras_object(recipe, METRICS, (*paths[t.name], i)) for i in range(len(value_at(recipe, paths[t.name])))
            ]
            for t in data.targets
            if t.name in paths
        },
    )


def build_loss_weights(recipe: Recipe, data: Pipelines) -> dict[str, float] | None:
    """`loss_weights`, checked to name the network's outputs."""
    if recipe.loss_weights is None:
        return None
    _per_output(recipe, "loss_weights", recipe.loss_weights, data)
    return recipe.loss_weights


def class_weights(recipe: Recipe, data: Pipelines) -> dict[int, float] | None:
    """`training.class_weight` with every class id of the data (unlisted classes weigh 1), checked against it."""
    weights = recipe.training.class_weight
    if weights is None:
        return None
    where = ("training", "class_weight")
    target = data.targets[0]
    if len(data.targets) > 1 or target.task not in ("classification", "binary"):
        raise recipe_error(
            recipe,
            where,
            f"`{dotted(where)}` needs one classification or binary target (the labels are "
            f"{', '.join(t.task for t in data.targets)}); use sample weights",
        )
    classes = target.units if target.task == "classification" else 2
    outside = sorted(k for k in weights if not 0 <= k < classes)
    if outside:
        raise recipe_error(
            recipe, where, f"`{dotted(where)}` names class ids {outside}; the data has classes 0..{classes - 1}"
        )
    if data.weighted:
        raise recipe_error(
            recipe,
            where,
            f"`{dotted(where)}` cannot be used with a dataset that gives sample weights ({recipe.dataset.name!r}); as "
            "in Keras, use one or the other",
        )
    return {c: float(weights.get(c, 1.0)) for c in range(classes)}


def jit_optimizer(recipe: Recipe, data: Pipelines) -> bool:
    """Whether the optimizer's update is compiled with XLA: ``training.jit_compile: optimizer``, or ``auto`` for a run
    of at least `XLA_UPDATE_MIN_STEPS` steps (``training.epochs`` x the epoch's steps, or an unknown number)."""
    jit = recipe.training.jit_compile
    if jit != "auto":
        return jit == "optimizer"
    steps = data.steps_per_epoch
    return steps is None or recipe.training.epochs * steps >= XLA_UPDATE_MIN_STEPS


def compile_trainer(recipe: Recipe, network: keras.Model, data: Pipelines, steps: int) -> Trainer:
    """A compiled Trainer (the recipe's class) around `network`: optimizer, loss, loss weights, metrics, `steps` per
    call.

    With sample weights in any split, every metric is also compiled weighted, as Keras's
    ``weighted_metrics``: the logs then hold ``accuracy`` (each sample counts once) and
    ``weighted_accuracy`` (each sample counts its weight); the loss is weighted either way.
    """
    jit = recipe.training.jit_compile
    trainer = build_component(
        recipe, TRAINERS, ("trainer",), network=network, jit_optimizer=jit_optimizer(recipe, data)
    )
    if not isinstance(trainer, Trainer):
        raise recipe_error(
            recipe,
            ("trainer",),
            f"trainer {recipe.trainer.name!r} is a {type(trainer).__name__}, not a subclass of framework.Trainer",
        )
    trainer.compile(
        optimizer=build_component(recipe, OPTIMIZERS, ("optimizer",)),
        loss=build_loss(recipe, data),
        loss_weights=build_loss_weights(recipe, data),
        metrics=build_metrics(recipe, data),
        weighted_metrics=build_metrics(recipe, data) if data.any_weighted else None,
        jit_compile=jit is True,
        steps_per_execution=steps,
    )
    return trainer
