"""A run: everything a recipe builds (data, network, Trainer, plugins) and where its results go."""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pluggy
import tensorflow as tf

from framework.callback import hook_callback
from framework.datasets import Data, make_data
from framework.errors import TapelineError
from framework.plugin_manager import load_plugins
from framework.recipe import INJECTED_ARGS, Recipe, build_component, recipe_to_yaml
from framework.registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS
from framework.trainer import Trainer

RECIPE_FILE = "recipe.yaml"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
WEIGHTS_FILE = "model.weights.h5"
SUMMARY_FILE = "run.json"


@dataclass
class Run:
    """What plugins see: the recipe, the output directory, the data, and why training stopped."""

    recipe: Recipe
    data: Data
    trainer: Trainer
    plugins: pluggy.PluginManager
    directory: Path | None = None
    stop_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hooks of this run's plugins (``run.hook.on_epoch_end(...)``)."""
        return self.plugins.hook

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Metrics of the current weights on ``"test"`` or ``"validation"``; fires ``on_evaluate_end``."""
        dataset = getattr(self.data, split)
        if dataset is None:
            raise TapelineError(f"the recipe has no {split} split (set `dataset.validation_split`)")
        callback = hook_callback(self, split)
        return self.trainer.evaluate(dataset, callbacks=[callback], verbose=0, return_dict=True)


def format_metrics(logs: dict[str, Any]) -> str:
    """``loss 0.3012  accuracy 0.8917`` for every numeric entry of `logs`."""
    return "  ".join(f"{key} {value:.4f}" for key, value in logs.items() if isinstance(value, (int, float)))


def configure_tensorflow(recipe: Recipe) -> None:
    """Seeds, determinism and precision policy, before anything is built."""
    if recipe.seed is not None:
        keras.utils.set_random_seed(recipe.seed)
    if recipe.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(recipe.training.precision)


def build_network(recipe: Recipe, data: Data) -> keras.Model:
    """The recipe's network, given the data's input shape and number of classes."""
    injected = dict(zip(INJECTED_ARGS, (data.input_shape, data.num_classes)))
    network = build_component(recipe, MODELS, ("model",), **injected)
    if not isinstance(network, keras.Model):
        raise TapelineError(f"model {recipe.model.name!r} returned {type(network).__name__}, not a keras.Model")
    return network


def compile_trainer(recipe: Recipe, network: keras.Model) -> Trainer:
    """A compiled `Trainer` around `network` with the recipe's optimizer, loss and metrics."""
    trainer = Trainer(network)
    trainer.compile(
        optimizer=build_component(recipe, OPTIMIZERS, ("optimizer",)),
        loss=build_component(recipe, LOSSES, ("loss",)) if recipe.loss.args else recipe.loss.name,
        metrics=[build_component(recipe, METRICS, ("metrics", i)) if m.args else m.name for i, m in enumerate(recipe.metrics)],
        jit_compile=recipe.training.jit_compile,
        steps_per_execution=recipe.training.steps_per_execution,
    )
    return trainer


def build_run(recipe: Recipe, directory: Path | None = None) -> Run:
    """Builds data, network, Trainer and plugins for `recipe` (nothing is trained or written)."""
    configure_tensorflow(recipe)
    training = recipe.training
    arrays = build_component(recipe, DATASETS, ("dataset",))
    data = make_data(arrays, training.batch_size, training.shuffle, recipe.seed, recipe.dataset.validation_split)
    trainer = compile_trainer(recipe, build_network(recipe, data))
    return Run(recipe, data, trainer, load_plugins(recipe), directory)


def next_run_directory(recipe: Recipe) -> Path:
    """``<output_dir>/<name>/version_<N>`` with the first N not used yet."""
    parent = Path(recipe.training.output_dir) / recipe.name
    taken = {p.name for p in parent.glob("version_*")} if parent.is_dir() else set()
    return parent / next(f"version_{n}" for n in range(len(taken) + 1) if f"version_{n}" not in taken)


def prepare_directory(directory: Path, overwrite: bool) -> Path:
    """Creates `directory`; an existing non-empty one is only replaced when `overwrite` is set."""
    if directory.exists() and any(directory.iterdir()):
        if not overwrite:
            raise TapelineError(f"output directory '{directory}' already holds a run; pass --overwrite to replace it")
        shutil.rmtree(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TapelineError(f"cannot create output directory '{directory}': {error}") from None
    return directory


def write_history(run: Run) -> None:
    """The per-epoch logs as JSON (a list of rows) and CSV (one column per metric)."""
    history = run.trainer.history
    rows = [{"epoch": epoch + 1, **{k: v[i] for k, v in history.history.items()}} for i, epoch in enumerate(history.epoch)]
    run.history = rows
    (run.directory / HISTORY_JSON).write_text(json.dumps(rows, indent=1) + "\n")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(run.directory / HISTORY_CSV, "w", newline="") as stream:
        writer = csv.DictWriter(stream, columns)
        writer.writeheader()
        writer.writerows(rows)


def train(recipe: Recipe, directory: Path | None = None, overwrite: bool = False) -> Run:
    """Trains `recipe` and writes its run directory: recipe, history, final weights, summary."""
    run = build_run(recipe)
    run.directory = prepare_directory(directory or next_run_directory(recipe), overwrite)
    (run.directory / RECIPE_FILE).write_text(recipe_to_yaml(recipe))
    started = time.perf_counter()
    try:
        run.trainer.fit(
            run.data.train,
            epochs=recipe.training.epochs,
            validation_data=run.data.validation,
            callbacks=[hook_callback(run)],
            shuffle=False,  # the pipeline shuffles
            verbose=0,
        )
    finally:
        write_history(run)
    run.trainer.network.save_weights(run.directory / WEIGHTS_FILE)
    summary = {"epochs": len(run.history), "stop_reason": run.stop_reason, "seconds": time.perf_counter() - started}
    (run.directory / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return run


def evaluate_weights(recipe: Recipe, weights: Path) -> dict[str, float]:
    """Test metrics of `recipe`'s network with `weights` (a weights file or a run directory) loaded."""
    file = weights / WEIGHTS_FILE if weights.is_dir() else weights
    if not file.is_file():
        raise TapelineError(f"weights file '{file}' does not exist")
    run = build_run(recipe)
    try:
        run.trainer.network.load_weights(file)
    except (ValueError, OSError) as error:
        raise TapelineError(f"cannot load '{file}' into model {recipe.model.name!r}: {error}") from None
    return run.evaluate("test")
