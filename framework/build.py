"""From a checked recipe to built objects: the data pipelines, the network and the compiled Trainer.

What does not fit together is a `RecipeError` at the recipe line concerned, before anything is
trained: a model whose outputs do not match the labels, a loss that does not suit the task,
per-output losses, loss weights or metrics naming outputs the model does not have.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import keras
import tensorflow as tf

from framework.data.module import DataModule, Shard
from framework.datasets import Arrays
from framework.errors import Problem, RecipeError, TapelineError, error_summary
from framework.pipelines import Data, Layer, Settings, make_data
from framework.recipe import Recipe, build_component, value_at
from framework.sections import STATEFUL_LAYER_ARGS, Component
from framework.registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, PREPROCESSING, TRAINERS, Registry
from framework.schema import Path, dotted, signature_parameters
from framework.sharding import built_together, offered_shard
from framework.tasks import DEFAULT_LOSSES, DEFAULT_METRICS, Target, loss_fits
from framework.trainer import Trainer

LOSS_DEPENDENT = ("accuracy",)  # metric names Keras resolves from the loss and labels
UNITS = {"classification": "one per class", "binary": "one 0/1 value", "multilabel": "one per label", "regression": "one per target value"}


def recipe_error(recipe: Recipe, path: Path, message: str) -> RecipeError:
    """A one-problem `RecipeError` at the line of `path`."""
    return RecipeError([Problem(recipe.locate(path), message)])


# --- data ---------------------------------------------------------------------------------


def build_layers(recipe: Recipe, key: str, defaults: list[dict[str, Any]]) -> list[Layer]:
    """The Keras layers of `dataset.<key>` (or the dataset's `defaults` when the recipe gives none), float32."""
    written = getattr(recipe.dataset, key)
    if written is None:
        holder = replace(recipe, dataset=replace(recipe.dataset, **{key: [Component(d["name"], d.get("args", {})) for d in defaults]}))
        holder.locate = lambda path: recipe.locate(("dataset",))
    else:
        holder = recipe
    layers = getattr(holder.dataset, key)
    return [Layer(build_component(holder, PREPROCESSING, ("dataset", key, i), dtype="float32"), adapts(c)) for i, c in enumerate(layers)]


def adapts(component: Component) -> bool:
    """Whether the preprocessing layer `component` is adapted on the training inputs (a Normalization without its mean ...)."""
    return hasattr(PREPROCESSING.get(component.name).target, "adapt") and not set(STATEFUL_LAYER_ARGS) & set(component.args)


def adapted_layers(recipe: Recipe) -> list[str]:
    """The recipe's own `dataset.preprocess` and `dataset.augment` layers that adapt on the training inputs, as ``preprocess[0] (Normalization)``."""
    return [f"{key}[{i}] ({c.name})" for key in ("preprocess", "augment") for i, c in enumerate(getattr(recipe.dataset, key) or []) if adapts(c)]


def build_data(recipe: Recipe, replicas: int = 1, strategy: tf.distribute.Strategy | None = None) -> Data:
    """The recipe's dataset as checked pipelines, batched by the global batch size (per replica × `replicas`).

    With several inputs, every input gets its own copy of the `preprocess` and `augment` layers.
    Under a multi-worker `strategy`, a dataset builder that can read its training files worker
    by worker is given this worker's shard (`framework.sharding`), and the workers agree on
    the training steps.
    """
    shard = offered_shard(recipe, strategy, adapted_layers(recipe))
    build = functools.partial(_build_data, recipe, replicas, shard)
    return build() if shard is None else built_together(strategy, build)


def _build_data(recipe: Recipe, replicas: int, shard: Shard | None) -> Data:
    source = build_component(recipe, DATASETS, ("dataset",), shard=shard)
    if not isinstance(source, (Arrays, DataModule)):
        raise TapelineError(f"dataset {recipe.dataset.name!r} returned {type(source).__name__}, not framework.datasets.Arrays or framework.data.module.DataModule")
    inputs = source.x_train if isinstance(source, Arrays) else source.train.element_spec[0]

    def layers(key: str, defaults: list[dict[str, Any]]) -> Any:
        if isinstance(inputs, dict):
            return {name: build_layers(recipe, key, defaults) for name in inputs}
        if isinstance(inputs, (list, tuple)):
            return tuple(build_layers(recipe, key, defaults) for _ in inputs)
        return build_layers(recipe, key, defaults)

    section, training = recipe.dataset, recipe.training
    settings = Settings(training.batch_size * replicas, training.shuffle, recipe.seed, section.validation_split, section.limit, recipe.task, section.cache)
    return make_data(source, settings, layers("preprocess", source.preprocess), layers("augment", []))


# --- network ------------------------------------------------------------------------------


def build_network(recipe: Recipe, data: Data) -> tuple[keras.Model, Data]:
    """The recipe's network, built, and the data with its labels keyed by the network's outputs.

    The model builder gets the data's ``input_shape`` and, for a single target,
    ``num_outputs`` and ``output_activation`` (and ``num_classes`` for classification), or for
    named targets ``outputs`` (``{name: (units, activation)}``). The
    network is called once on zeros shaped like the inputs: a subclassed network creates its
    weights, and its outputs are matched with the labels (`match_outputs`).
    """
    target = data.targets[0] if len(data.targets) == 1 and data.targets[0].name is None else None
    injected: dict[str, Any] = {"input_shape": data.input_shape}
    if target is None:
        injected["outputs"] = {t.name: (t.units, t.activation) for t in data.targets}
    else:
        injected |= {"num_outputs": target.units, "output_activation": target.activation}
        if target.task == "classification":
            injected["num_classes"] = target.units
    builder = MODELS.get(recipe.model.name).target
    if "num_classes" not in injected and "num_classes" in _required(builder) and "num_classes" not in recipe.model.args:
        task = target.task if target else "several outputs"
        raise recipe_error(recipe, ("model",), f"model {recipe.model.name!r} needs `num_classes`, but the labels are not one classification target ({task}); use a builder taking `num_outputs`/`output_activation`")
    network = build_component(recipe, MODELS, ("model",), **injected)
    if not isinstance(network, keras.Model):
        raise TapelineError(f"model {recipe.model.name!r} returned {type(network).__name__}, not a keras.Model")
    inputs = data.train.element_spec[0]
    try:
        outputs = network(tf.nest.map_structure(lambda s: tf.zeros([d or 1 for d in s.shape], s.dtype), inputs), training=False)
    except Exception as error:  # whatever the user's call() raises
        shapes = ", ".join(f"{tuple(s.shape[1:])} {s.dtype.name}" for s in tf.nest.flatten(inputs))
        raise recipe_error(recipe, ("model",), f"model {recipe.model.name!r} cannot be called on the data's inputs {shapes}: {error_summary(error)}") from None
    return network, match_outputs(recipe, network, outputs, data)


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


def match_outputs(recipe: Recipe, network: keras.Model, outputs: Any, data: Data) -> Data:
    """`data` with one target per network output, each output's size checked against its labels.

    One set of labels and several outputs (deep supervision, auxiliary heads): every output
    learns the same labels. Named labels must name exactly the network's outputs.
    """
    names = output_names(network, outputs)
    named = [t.name for t in data.targets if t.name is not None]
    model = f"model {recipe.model.name!r}"
    if names is None and named:
        raise recipe_error(recipe, ("model",), f"{model} has one output, but the data has labels for outputs {named}: name the model's outputs after them")
    if names is not None and not named:
        target = data.targets[0]
        data = data.map_labels(lambda y: {name: y for name in names})
        data = replace(data, targets=[replace(target, name=name) for name in names])
    elif names is not None and set(names) != set(named):
        raise recipe_error(recipe, ("model",), f"{model} has outputs {names}, but the data has labels for {named}; each output needs labels of the same name")
    flat = outputs if isinstance(outputs, dict) else dict(zip(names, outputs)) if names else {None: outputs}
    for target in data.targets:
        _check_units(recipe, model, flat[target.name], target)
    return data


def _check_units(recipe: Recipe, model: str, output: tf.Tensor, target: Target) -> None:
    units = output.shape[-1] if output.shape.rank > 1 else 1
    if units == target.units and (output.shape.rank > 1 or target.task != "classification"):
        return
    where = "" if target.name is None else f" (output {target.name!r})"
    hint = "; for one sigmoid unit and 0/1 labels set `task: binary`" if target.task == "classification" and units == 1 else ""
    raise recipe_error(recipe, ("model",), f"{model} outputs {units} value(s) per sample{where}, but its {target.task} labels need {target.units} ({UNITS[target.task]}){hint}")


# --- loss, metrics, class weights ---------------------------------------------------------


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


def _per_output(recipe: Recipe, key: str, value: Any, data: Data) -> dict[str | None, Path]:
    """The recipe path of `key`'s entry for each target: ``(key, name)`` for a per-output mapping, else ``(key,)``."""
    if not isinstance(value, dict):
        return {t.name: (key,) for t in data.targets}
    names = [t.name for t in data.targets]
    unknown = [k for k in value if k not in names]
    if unknown or None in names:
        outputs = "one unnamed output" if None in names else f"outputs {names}"
        raise recipe_error(recipe, (key, unknown[0]) if unknown else (key,), f"`{key}` names outputs {unknown or list(value)}, but the model has {outputs}")
    missing = [n for n in names if n not in value]
    if missing and key == "loss":
        raise recipe_error(recipe, (key,), f"`loss` gives no loss for outputs {missing}; give one per output: {names}")
    return {n: (key, n) for n in names if n in value}


def _structure(data: Data, per_target: dict[str | None, Any]) -> Any:
    return per_target[None] if list(per_target) == [None] else per_target


def build_loss(recipe: Recipe, data: Data) -> Any:
    """The loss for ``compile``: the recipe's (one, or one per output) or each task's default, checked to suit the task."""
    if recipe.loss is None:
        return _structure(data, {t.name: DEFAULT_LOSSES[t.task] for t in data.targets})
    paths = _per_output(recipe, "loss", recipe.loss, data)
    for target in data.targets:
        name = value_at(recipe, paths[target.name]).name
        if not loss_fits(name, target.task):
            where = paths[target.name]
            raise recipe_error(recipe, where, f"`{dotted(where)}` {name!r} does not suit the {target.label}: they are a {target.task} target; "
                               f"the default for {target.task} is {DEFAULT_LOSSES[target.task]!r} (or set `task`)")
    return _structure(data, {t.name: keras_object(recipe, LOSSES, paths[t.name]) for t in data.targets})


def build_metrics(recipe: Recipe, data: Data) -> Any:
    """The metrics for ``compile``: the recipe's list (for every output, or per output name) or each task's defaults."""
    if recipe.metrics is None:
        return _structure(data, {t.name: list(DEFAULT_METRICS[t.task]) for t in data.targets})
    paths = _per_output(recipe, "metrics", recipe.metrics, data)
    return _structure(data, {t.name: [keras_object(recipe, METRICS, (*paths[t.name], i)) for i in range(len(value_at(recipe, paths[t.name])))]
                             for t in data.targets if t.name in paths})


def build_loss_weights(recipe: Recipe, data: Data) -> dict[str, float] | None:
    """`loss_weights`, checked to name the network's outputs."""
    if recipe.loss_weights is None:
        return None
    _per_output(recipe, "loss_weights", recipe.loss_weights, data)
    return recipe.loss_weights


def class_weights(recipe: Recipe, data: Data) -> dict[int, float] | None:
    """`training.class_weight` with every class id of the data (unlisted classes weigh 1), checked against it."""
    weights = recipe.training.class_weight
    if weights is None:
        return None
    where = ("training", "class_weight")
    target = data.targets[0]
    if len(data.targets) > 1 or target.task not in ("classification", "binary"):
        raise recipe_error(recipe, where, f"`{dotted(where)}` needs one classification or binary target (the labels are {', '.join(t.task for t in data.targets)}); use sample weights")
    classes = target.units if target.task == "classification" else 2
    outside = sorted(k for k in weights if not 0 <= k < classes)
    if outside:
        raise recipe_error(recipe, where, f"`{dotted(where)}` names class ids {outside}; the data has classes 0..{classes - 1}")
    if data.weighted:
        raise recipe_error(recipe, where, f"`{dotted(where)}` cannot be used with a dataset that gives sample weights ({recipe.dataset.name!r}); as in Keras, use one or the other")
    return {c: float(weights.get(c, 1.0)) for c in range(classes)}


# --- trainer ------------------------------------------------------------------------------


def compile_trainer(recipe: Recipe, network: keras.Model, data: Data, steps: int) -> Trainer:
    """A compiled Trainer (the recipe's class) around `network`: optimizer, loss, loss weights, metrics, `steps` per call."""
    jit = recipe.training.jit_compile
    trainer = build_component(recipe, TRAINERS, ("trainer",), network=network, jit_optimizer=jit == "optimizer")
    if not isinstance(trainer, Trainer):
        raise recipe_error(recipe, ("trainer",), f"trainer {recipe.trainer.name!r} is a {type(trainer).__name__}, not a subclass of framework.Trainer")
    trainer.compile(
        optimizer=build_component(recipe, OPTIMIZERS, ("optimizer",)),
        loss=build_loss(recipe, data),
        loss_weights=build_loss_weights(recipe, data),
        metrics=build_metrics(recipe, data),
        jit_compile=jit is True,
        steps_per_execution=steps,
    )
    return trainer

