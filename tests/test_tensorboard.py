"""Tests for the tensorboard plugin."""

from __future__ import annotations

import tensorflow as tf

from framework.recipe import load_recipe
from framework.run import train


def test_writes_scalars_histograms_and_recipe_without_tensorboard(tiny_recipe):
    """Event files hold per-epoch scalars by split, batch scalars, weight histograms and the recipe text."""
    plugins = "plugins: [{name: tensorboard, args: {every_n_batches: 3, histograms: true}}]\n"
    run = train(load_recipe(tiny_recipe(plugins), ["dataset.validation_split=0.25"]))
    [events] = (run.directory / "tensorboard").glob("events.out.tfevents.*")
    seen: dict[str, list[tuple[int, str]]] = {}
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        for value in event.summary.value:
            seen.setdefault(value.tag, []).append((event.step, value.metadata.plugin_data.plugin_name))
    assert seen["train/loss"] == [(1, "scalars"), (2, "scalars")]
    assert seen["val/accuracy"] == [(1, "scalars"), (2, "scalars")]
    assert [step for step, _ in seen["batch/loss"]] == [3, 8]  # 5 batches per epoch: the 3rd of each
    assert seen["recipe"] == [(0, "text")]
    kernels = [tag for tag in seen if tag.endswith("kernel")]
    assert kernels and all(kind == "histograms" for _, kind in seen[kernels[0]])
