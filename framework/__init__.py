"""Tapeline: train Keras networks with an explicit GradientTape step, YAML recipes and pluggy plugins.

A plugin needs only `hookimpl`; its hooks get the run as a read-only `RunContext`::

    from framework import hookimpl

    class Announce:
        @hookimpl
        def on_epoch_end(self, epoch, logs):
            print(epoch, logs["loss"])

`Run` (the core's own run), `Trainer` and the registration helpers are imported on first use (PEP 562), so
``from framework import hookimpl`` and the command line's help start no TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from framework.hooks.context import RunContext
from framework.hooks.specs import StatefulPlugin, hookimpl

LAZY = {
    "Arrays": "framework.data.arrays",
    "DataModule": "framework.data.module",
    "Run": "framework.training.run",
    "Trainer": "framework.model.trainer",
    "enable_batch_hook": "framework.hooks.manager",
    "register_dataset": "framework.recipe.registry",
    "register_model": "framework.recipe.registry",
}

__version__ = "0.1.0"
__all__ = ["Arrays", "DataModule", "Run", "RunContext", "StatefulPlugin", "Trainer", "enable_batch_hook", "hookimpl", "register_dataset", "register_model", "__version__"]


def __getattr__(name: str) -> Any:
    """`Run`, `Trainer`, ... imported from their modules when first asked for."""
    if name not in LAZY:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    value = getattr(import_module(LAZY[name]), name)
    globals()[name] = value
    return value
