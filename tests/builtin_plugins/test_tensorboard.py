"""Tests for the tensorboard plugin."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from framework.extras import pip_install
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from plugins.tensorboard import write_hparams


def read_events(run_directory: Path) -> list[tuple[str, int, str, bytes, tf.Tensor]]:
    """(tag, step, plugin name, plugin content, tensor) of every summary value in the run's event files."""
    return [
        (
            value.tag,
            event.step,
            value.metadata.plugin_data.plugin_name,
            value.metadata.plugin_data.content,
            value.tensor,
        )
        for events in sorted((run_directory / "tensorboard").glob("events.out.tfevents.*"))
        for event in tf.compat.v1.train.summary_iterator(str(events))
        for value in event.summary.value
    ]


def test_writes_scalars_histograms_and_recipe_without_tensorboard(tiny_recipe):
    """Event files hold per-epoch scalars by split, batch scalars, weight histograms and the recipe text."""
    plugins = "plugins: [{name: tensorboard, args: {every_n_batches: 3, histograms: true, hparams: false}}]\n"
    run = train(load_recipe(tiny_recipe(plugins), ["dataset.validation_split=0.25"]))
    seen: dict[str, list[tuple[int, str]]] = {}
    for tag, step, plugin, _, _ in read_events(run.directory):
        seen.setdefault(tag, []).append((step, plugin))
    assert seen["train/loss"] == [(1, "scalars"), (2, "scalars")]
    assert seen["val/accuracy"] == [(1, "scalars"), (2, "scalars")]
    assert [step for step, _ in seen["batch/loss"]] == [3, 8]  # 5 batches per epoch: the 3rd of each
    assert seen["recipe"] == [(0, "text")]
    kernels = [tag for tag in seen if tag.endswith("kernel")]
    assert kernels and all(kind == "histograms" for _, kind in seen[kernels[0]])
    assert not any(plugin == "hparams" for steps in seen.values() for _, plugin in steps)


def test_writes_hparams_and_final_test_metrics(tiny_recipe):
    """The HParams plugin data holds the flattened recipe under the run's trial id; the final test metrics are scalars
    at the last step."""
    run = train(load_recipe(tiny_recipe("plugins: [evaluation, tensorboard]\n")))
    events = read_events(run.directory)
    [content] = [
        content
        for tag, _, plugin, content, _ in events
        if plugin == "hparams" and tag == "_hparams_/session_start_info"
    ]
    start = HParamsPluginData.FromString(content).session_start_info
    assert start.group_name == f"tiny/{run.directory.name}"
    hparams = start.hparams
    assert hparams["training.epochs"].number_value == 2 and hparams["model.name"].string_value == "seed_cnn"
    assert hparams["dataset.args.shape.1"].number_value == 8 and hparams["training.shuffle"].bool_value is True
    assert (
        hparams["plugins.1.name"].string_value == "tensorboard" and "dataset.limit" not in hparams
    )  # nulls are left out
    test = {
        tag: (step, float(tf.make_ndarray(tensor))) for tag, step, _, _, tensor in events if tag.startswith("test/")
    }
    evaluation = run.plugins.get_plugin("tensorboard").test
    assert test == {
        "test/loss": (2, pytest.approx(evaluation["loss"])),
        "test/accuracy": (2, pytest.approx(evaluation["accuracy"])),
    }


def test_hparams_without_the_tensorboard_package_warn(monkeypatch):
    """Without the tensorboard package the HParams summary is skipped with a warning saying what to install."""
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams", None)
    with pytest.warns(UserWarning, match=re.escape(f"{pip_install('tensorboard')} (or set `hparams: false`)")):
        write_hparams(SimpleNamespace())
