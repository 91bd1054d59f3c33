"""From a checked recipe to the data pipelines: the dataset builder's splits with the recipe's preprocessing and
augmentation layers."""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace
from typing import Any

import tensorflow as tf

from framework.data.arrays import Arrays
from framework.data.audit import AuditReport, audit, check_audit
from framework.data.layers import Layer
from framework.data.module import DataModule, Shard
from framework.data.pipelines import Pipelines, PipelineSettings, make_pipelines
from framework.data.sharding import built_together, offered_shard
from framework.errors import TapelineError
from framework.recipe.components import build_component
from framework.recipe.registry import (
    DATASETS,
    PREPROCESSING,
)
from framework.recipe.schema import Origins
from framework.recipe.sections import STATEFUL_LAYER_ARGS, Component, Recipe
from framework.runtime.distribute import worker_role


def build_layers(recipe: Recipe, key: str, defaults: list[dict[str, Any]]) -> list[Layer]:
    """The Keras layers of `dataset.<key>` (or the dataset's `defaults` when the recipe gives none), float32."""
    written = getattr(recipe.dataset, key)
    if written is None:
        layers = [Component(d["name"], d.get("args", {})) for d in defaults]
        holder = replace(
            recipe,
            dataset=replace(recipe.dataset, **{key: layers}),
            origins=Origins(default=recipe.locate(("dataset",))),
        )
    else:
        holder = recipe
    layers = getattr(holder.dataset, key)
    return [
        Layer(build_component(holder, PREPROCESSING, ("dataset", key, i), dtype="float32"), adapts(c))
        for i, c in enumerate(layers)
    ]


def adapts(component: Component) -> bool:
    """Whether the preprocessing layer `component` is adapted on the training inputs (a Normalization without its mean
    ...)."""
    return hasattr(PREPROCESSING.get(component.name).target, "adapt") and not set(STATEFUL_LAYER_ARGS) & set(
        component.args
    )


def adapted_layers(recipe: Recipe) -> list[str]:
    """The recipe's own `dataset.preprocess` and `dataset.augment` layers that adapt on the training inputs, as
    ``preprocess[0] (Normalization)``."""
    return [
        f"{key}[{i}] ({c.name})"
        for key in ("preprocess", "augment")
        for i, c in enumerate(getattr(recipe.dataset, key) or [])
        if adapts(c)
    ]


def build_data(
    recipe: Recipe, replicas: int = 1, strategy: tf.distribute.Strategy | None = None, audit: bool = False
) -> Pipelines:
    """The recipe's dataset as checked pipelines, batched by the global batch sizes (per replica × `replicas`):
    training by `training.batch_size`, the other passes by `training.eval_batch_size`.

    With several inputs, every input gets its own copy of the `preprocess` and `augment` layers.
    Under a multi-worker `strategy`, a dataset builder that can read its training files worker
    by worker is given this worker's shard (`framework.data.sharding`), and the workers agree on
    the training steps. With `audit`, the leakage audit runs first as ``dataset.audit`` says
    (`run_audit`; in one process only).
    """
    shard = offered_shard(recipe, strategy, adapted_layers(recipe))
    audit = audit and (strategy is None or worker_role(strategy).is_chief) and shard is None
    build = functools.partial(_build_data, recipe, replicas, shard, audit)
    return build() if shard is None else built_together(strategy, build)


def _build_data(recipe: Recipe, replicas: int, shard: Shard | None, audit: bool) -> Pipelines:
    source = build_component(recipe, DATASETS, ("dataset",), shard=shard)
    if not isinstance(source, (Arrays, DataModule)):
        raise TapelineError(
            f"dataset {recipe.dataset.name!r} returned {type(source).__name__}, not framework.Arrays or "
            "framework.DataModule"
        )
    warn_unused_split(recipe, source)
    inputs = source.x_train if isinstance(source, Arrays) else source.train.element_spec[0]
    if getattr(source, "encoder", None) is not None:
        inputs = None  # the layers see the encoder's one output

    def layers(key: str, defaults: list[dict[str, Any]]) -> Any:
        if isinstance(inputs, dict):
            return {name: build_layers(recipe, key, defaults) for name in inputs}
        if isinstance(inputs, (list, tuple)):
            return tuple(build_layers(recipe, key, defaults) for _ in inputs)
        return build_layers(recipe, key, defaults)

    section, training = recipe.dataset, recipe.training
    settings = PipelineSettings(
        training.batch_size * replicas,
        training.shuffle,
        recipe.seed,
        section.validation_split,
        section.limit,
        recipe.task,
        section.cache,
        section.split,
        section.split_by,
        None if training.eval_batch_size is None else training.eval_batch_size * replicas,
    )
    pipelines = make_pipelines(source, settings, layers("preprocess", source.preprocess), layers("augment", []))
    if not audit or recipe.dataset.audit_mode == "off":
        return pipelines
    return replace(pipelines, audit=run_audit(recipe, source))  # after the checks of make_pipelines


def warn_unused_split(recipe: Recipe, source: Arrays | DataModule) -> None:
    """A warning when `dataset.split` or `dataset.split_by` is set but no samples are held out by it."""
    section = recipe.dataset
    own = isinstance(source, DataModule) and source.validation is not None
    if (section.split != "last" or section.split_by is not None) and (own or not section.validation_split):
        why = "the dataset has validation files of its own" if own else "`dataset.validation_split` is 0"
        warnings.warn(f"`dataset.split` and `dataset.split_by` hold nothing out here: {why}", stacklevel=1)


def run_audit(recipe: Recipe, source: Arrays | DataModule) -> AuditReport:
    """The leakage audit of `source`, printed; `DataError` (exit 2) on a finding with ``dataset.audit: strict``."""
    report = audit(source, recipe.dataset.limit)
    print("\n".join(report.lines()), flush=True)
    check_audit(report, recipe.dataset.audit_mode == "strict")
    return report
