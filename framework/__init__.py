"""Tapeline: train Keras networks with an explicit GradientTape step, YAML recipes and pluggy plugins.

A plugin needs only `hookimpl`::

    from framework import hookimpl

    class Announce:
        @hookimpl
        def on_epoch_end(self, epoch, logs):
            print(epoch, logs["loss"])
"""

from framework.hookspecs import hookimpl
from framework.plugin_manager import enable_batch_hook
from framework.registry import register_dataset, register_model
from framework.run import Run
from framework.trainer import Trainer

__version__ = "0.1.0"
__all__ = ["Run", "Trainer", "enable_batch_hook", "hookimpl", "register_dataset", "register_model", "__version__"]
