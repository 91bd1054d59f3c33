"""What experiment trackers (the ``tensorboard`` and ``mlflow`` plugins) record about a run's recipe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.recipe import recipe_to_dict

if TYPE_CHECKING:
    from framework.recipe import Recipe

Scalar = bool | int | float | str


def flatten(data: Any, prefix: str = "") -> dict[str, Scalar]:
    """`data`'s leaves by dotted key, lists indexed as ``--set`` writes them (``plugins.0.args.every``).

    Numbers, booleans and strings stay as they are; any other leaf becomes its `str`. Nulls,
    empty mappings and empty lists have no leaf and are left out.
    """
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = enumerate(data)
    elif data is None:
        return {}
    else:
        return {prefix: data if isinstance(data, (bool, int, float, str)) else str(data)}
    flat: dict[str, Scalar] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def recipe_params(recipe: Recipe) -> dict[str, Scalar]:
    """The resolved recipe as flat parameters: ``{"training.epochs": 5, "model.name": "seed_cnn", ...}``."""
    return flatten(recipe_to_dict(recipe))
