"""Tapeline: train Keras networks with an explicit GradientTape step, YAML recipes and pluggy plugins.

A plugin needs only `hookimpl`; its hooks get the run as a read-only `RunContext`::

    from framework import hookimpl

    class Announce:
        @hookimpl
        def on_epoch_end(self, epoch, logs):
            print(epoch, logs["loss"])

What this package exports, by use (docs/plugins.md documents the toolkit):

- the plugin contract: `hookimpl`, `RunContext`, `StatefulPlugin`, `enable_batch_hook`;
- the plugin toolkit: `Monitor` and `format_metrics` (reading epoch logs), `require` (checking
  a plugin's arguments), `write_atomic`, `write_text`, `write_json` and `write_csv` (files a
  reader never sees half-written), `Predictions`, `evaluation_report`, `error_rows`, `ErrorRow`,
  `write_errors` and `image_inputs` (what ``run.predict`` returns, and the reports the
  evaluation plugin writes), `recipe_params` and `recipe_to_yaml` (a recipe for trackers),
  and the errors (`TapelineError`, `TrainingFailed`, `DataError`);
- Python use: `load_recipe`, `train`, `Run`, `Trainer`, `Arrays`, `DataModule`,
  `register_model`, `register_dataset`.

Everything but the contract and the errors is imported on first use (PEP 562), so
``from framework import hookimpl`` and the command line's help start no TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from framework.errors import (
    DataError,
    PluginError,
    RecipeError,
    TapelineError,
    TrainingFailed,
)
from framework.hooks.context import Predictions, RunContext
from framework.hooks.specs import StatefulPlugin, hookimpl

LAZY = {
    # plugin contract
    "enable_batch_hook": "framework.hooks.manager",
    # plugin toolkit
    "Monitor": "framework.hooks.monitor",
    "format_metrics": "framework.hooks.monitor",
    "require": "framework.recipe.schema",
    "needs_extra": "framework.extras",
    "pip_install": "framework.extras",
    "write_atomic": "framework.files",
    "write_text": "framework.files",
    "write_json": "framework.files",
    "write_csv": "framework.files",
    "evaluation_report": "framework.training.reports",
    "error_rows": "framework.training.error_report",
    "ErrorRow": "framework.training.error_report",
    "image_inputs": "framework.training.error_report",
    "write_errors": "framework.training.error_report",
    "recipe_params": "framework.recipe.loader",
    "recipe_to_yaml": "framework.recipe.loader",
    # Python use
    "load_recipe": "framework.recipe.loader",
    "train": "framework.training.lifecycle",
    "Run": "framework.training.run",
    "Trainer": "framework.model.trainer",
    "Arrays": "framework.data.arrays",
    "DataModule": "framework.data.module",
    "register_dataset": "framework.recipe.registry",
    "register_model": "framework.recipe.registry",
}

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "Arrays",
    "DataError",
    "DataModule",
    "enable_batch_hook",
    "error_rows",
    "ErrorRow",
    "evaluation_report",
    "format_metrics",
    "hookimpl",
    "image_inputs",
    "load_recipe",
    "Monitor",
    "needs_extra",
    "pip_install",
    "PluginError",
    "Predictions",
    "recipe_params",
    "recipe_to_yaml",
    "RecipeError",
    "register_dataset",
    "register_model",
    "require",
    "Run",
    "RunContext",
    "StatefulPlugin",
    "TapelineError",
    "train",
    "Trainer",
    "TrainingFailed",
    "write_atomic",
    "write_csv",
    "write_errors",
    "write_json",
    "write_text",
]


def __getattr__(name: str) -> Any:
    """`Trainer`, `Monitor`, ... imported from their modules when first asked for."""
    if name not in LAZY:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    value = getattr(import_module(LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
