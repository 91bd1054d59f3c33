"""Tests for framework/tracking.py: the recipe as flat parameters."""

from __future__ import annotations

from framework.recipe.loader import flatten, load_recipe, recipe_params


def test_flatten_uses_set_keys_and_leaves_out_nulls():
    """Mappings and lists become dotted keys as --set writes them; scalars stay, nulls and empty containers go."""
    data = {"a": {"b": [1, {"c": True}], "d": None, "e": {}}, "f": "x", "g": 0.5, "h": []}
    assert flatten(data) == {"a.b.0": 1, "a.b.1.c": True, "f": "x", "g": 0.5}


def test_recipe_params(tiny_recipe):
    """The resolved recipe, defaults included, by dotted key."""
    params = recipe_params(load_recipe(tiny_recipe("plugins: [{name: evaluation, args: {every: 2}}]\n")))
    assert params["training.epochs"] == 2 and params["optimizer.name"] == "adam" and params["plugins.0.args.every"] == 2
    assert params["dataset.args.shape.1"] == 8 and "dataset.limit" not in params and "extends" not in params
