"""Tests for `training.phases`: two-phase fine-tuning of a pretrained backbone, and resuming mid-phase exactly."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from framework.cli import main
from framework.errors import PluginError, RecipeError
from framework.model.backbone import backbone
from framework.recipe.loader import load_recipe
from framework.recipe.sections import Phase
from framework.training.lifecycle import train
from framework.training.phases import phase_index, set_trainable
from framework.training.run import build_run

SIZE = 32  # MobileNetV3's smallest input
PHASES = "[{epochs: 1, trainable: head}, {epochs: 1, trainable: top_12, learning_rate: 1.0e-5}]"


def small_network() -> keras.Model:
    """A MobileNetV3Small (minimalistic) under a 2-class head, random weights."""
    return backbone((SIZE, SIZE, 3), 2, network="MobileNetV3Small", network_args={"minimalistic": True})


def write_weights(path: Path) -> Path:
    """The backbone's weights as a local file, as a user would save downloaded ImageNet weights."""
    keras.utils.set_random_seed(3)
    network = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg", minimalistic=True
    )
    network.save_weights(path)
    return path


def write_images(root: Path, count: int) -> None:
    """`count` RGB images a class: reddish ``red`` ones and bluish ``blue`` ones, 40 x 40 (resized when read)."""
    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("blue", 2)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 120, (40, 40, 3))
            pixels[..., channel] += 120
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")


@pytest.fixture
def photos(tmp_path: Path, write_recipe) -> Path:
    """A recipe fine-tuning MobileNetV3Small from a local weights file on a small image folder, in two phases."""
    write_images(tmp_path / "train", 16)
    write_images(tmp_path / "test", 4)
    weights = write_weights(tmp_path / "mobilenet.weights.h5")
    return write_recipe(f"""
        name: photos
        seed: 1
        dataset:
          name: image_folder
          args: {{train: {tmp_path / "train"}, test: {tmp_path / "test"}, image_size: [{SIZE}, {SIZE}]}}
          audit: off
        model:
          name: backbone
          args: {{network: MobileNetV3Small, weights: {weights}, network_args: {{minimalistic: true}}}}
        training:
          batch_size: 8
          jit_compile: false
          deterministic: true
          output_dir: {tmp_path / "runs"}
          phases: {PHASES}
        """)


def test_phase_index_counts_epochs_phase_by_phase():
    """Epochs 0..2 are phase 0's, 3 phase 1's; epochs past the end stay in the last phase."""
    phases = [Phase(3), Phase(1)]
    assert [phase_index(phases, e) for e in range(5)] == [0, 0, 0, 1, 1]


def test_trainable_names_the_head_the_top_layers_or_all_and_keeps_batchnorm_frozen():
    """head: the output layer only; top_N: also the backbone's last N layers but their BatchNormalization; all: every
    weight but BatchNormalization's."""
    network = small_network()
    base = network.get_layer("backbone")
    set_trainable(network, "head")
    assert [w.path for w in network.trainable_weights] == ["dense/kernel", "dense/bias"]
    set_trainable(network, "top_12")
    top = [layer for layer in base.layers[-12:] if not isinstance(layer, keras.layers.BatchNormalization)]
    assert {id(w) for w in network.trainable_weights} == {
        id(w) for w in [*[w for layer in top for w in layer.trainable_weights], *network.layers[-1].weights]
    }
    set_trainable(network, "all")
    batchnorm = [
        w for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization) for w in layer.weights
    ]
    assert batchnorm and not {id(w) for w in batchnorm} & {id(w) for w in network.trainable_weights}


def assert_only_the_top_changed(trained: keras.Model, original: keras.Model, top: int) -> None:
    """Of the backbone's layers, exactly the last `top` with weights, BatchNormalization excepted, have new weights."""
    for layer, before in zip(trained.layers, original.layers, strict=True):
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), before.get_weights(), strict=True))
        changes = layer in trained.layers[-top:] and not isinstance(layer, keras.layers.BatchNormalization)
        assert same != (changes and bool(layer.weights)), layer.name


def test_two_phases_train_the_head_then_the_top_and_export_and_predict_take_raw_images(photos, capsys, tmp_path):
    """Phase 1 leaves the pretrained backbone as loaded; phase 2 changes its top layers only, at learning rate 1e-5
    (BatchNormalization untouched), with the XLA-compiled update; the exported model and `predict` take the image
    files."""
    loaded = small_network()
    loaded.get_layer("backbone").load_weights(tmp_path / "mobilenet.weights.h5")
    run = train(load_recipe(photos, ["training.jit_compile=optimizer"]))
    out = capsys.readouterr().out
    assert "phase 1/2 (epoch 1): trainable head (1,154 weights), learning rate 0.001" in out
    assert "phase 2/2 (epoch 2): trainable top_12 " in out and "learning rate 1e-05" in out
    assert run.recipe.training.epochs == 2 and len(run.history) == 2
    assert_only_the_top_changed(run.trainer.network.get_layer("backbone"), loaded.get_layer("backbone"), 12)
    assert float(run.trainer.optimizer.learning_rate.numpy()) == pytest.approx(1e-5)
    assert main(["export", str(run.directory)]) == 0
    image = next((tmp_path / "test" / "red").iterdir())
    assert main(["predict", str(run.directory), str(image)]) == 0
    assert str(image) in capsys.readouterr().out


def test_without_the_xla_update_the_retraced_step_trains_the_top_only(photos):
    """With `training.jit_compile: false` too, phase 2's retraced step changes the backbone's top layers only (a
    small nested backbone; MobileNetV3 is the test above's)."""
    settings = [
        "training.jit_compile=false",
        "model=model_helpers:small_backbone_cnn",
        "training.phases=[{epochs: 1, trainable: head}, {epochs: 1, trainable: top_2, learning_rate: 1.0e-3}]",
    ]
    initial = build_run(load_recipe(photos, settings)).trainer.network.get_layer("backbone")
    trained = train(load_recipe(photos, settings)).trainer.network.get_layer("backbone")
    assert_only_the_top_changed(trained, initial, 2)


def test_resuming_mid_phase_ends_as_the_uninterrupted_run(photos, tmp_path):
    """A run failing after batch 2 of epoch 2 (phase 2) resumes from its step-2 state to the uninterrupted run's
    weights and history, bit for bit (a small nested backbone: MobileNetV3 is the other tests')."""
    settings = [
        "training.checkpoint_every=2",
        "model=model_helpers:small_backbone_cnn",
        "training.phases=[{epochs: 1, trainable: head}, {epochs: 1, trainable: top_2, learning_rate: 1.0e-3}]",
    ]

    def crash_at(marker: Path) -> list[str]:
        crash = f"{{name: 'plugin_helpers:CrashAtBatch', args: {{epoch: 1, batch: 2, marker: '{marker}'}}}}"
        return [*settings, f"plugins=[{crash}]"]

    (tmp_path / "crashed").touch()
    whole = train(load_recipe(photos, crash_at(tmp_path / "crashed")))
    with pytest.raises(PluginError, match="crash after batch 2 of epoch 1"):
        train(load_recipe(photos, crash_at(tmp_path / "once")), tmp_path / "cut")
    resumed = train(load_recipe(tmp_path / "cut" / "recipe.yaml"), tmp_path / "cut", resume=True)
    assert resumed.history == whole.history
    for got, want in zip(resumed.trainer.network.get_weights(), whole.trainer.network.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_head_needs_a_backbone_and_epochs_must_add_up(tiny_recipe):
    """`trainable: head` on a network without a backbone, and `training.epochs` other than the phases' sum, are
    recipe errors naming the key."""
    with pytest.raises(RecipeError, match=r"`training.phases\[0\]`: trainable 'head' needs a network with a nested "):
        build_run(load_recipe(tiny_recipe(), ["training.epochs=2", "training.phases=[{epochs: 2, trainable: head}]"]))
    with pytest.raises(RecipeError, match=r"`training.epochs` must be the sum of `training.phases`' epochs, 3, or"):
        load_recipe(tiny_recipe(), ["training.phases=[{epochs: 1}, {epochs: 2}]"])
    with pytest.raises(RecipeError, match=r"`training.phases\[0\].trainable` must be 'all', 'head' or 'top_N'"):
        load_recipe(tiny_recipe(), ["training.epochs=1", "training.phases=[{epochs: 1, trainable: top20}]"])


def test_a_phase_learning_rate_and_lr_schedule_are_refused_together(photos):
    """A phase's learning_rate and the lr_schedule plugin would both set the rate: a recipe error naming the phase."""
    plugins = "plugins=[{name: lr_schedule, args: {schedule: cosine}}]"
    with pytest.raises(RecipeError, match=r"`training.phases\[1\]`: learning_rate and the lr_schedule plugin both"):
        build_run(load_recipe(photos, [plugins]))
