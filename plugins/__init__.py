"""Tapeline's built-in plugins, selected in recipes by their ``name``."""

from __future__ import annotations

from plugins.checkpoint import Checkpoint
from plugins.console import Console
from plugins.early_stopping import EarlyStopping
from plugins.evaluation import Evaluation
from plugins.lr_schedule import LRSchedule
from plugins.metrics_log import MetricsLog
from plugins.mlflow_tracking import MLflowTracking
from plugins.nan_guard import NanGuard
from plugins.plots import Plots
from plugins.tensorboard import TensorBoard

BUILTINS = (
    Console,
    MetricsLog,
    TensorBoard,
    EarlyStopping,
    Evaluation,
    Checkpoint,
    LRSchedule,
    NanGuard,
    Plots,
    MLflowTracking,
)


def builtins() -> dict[str, type]:
    """The built-in plugin classes by name."""
    return {plugin.name: plugin for plugin in BUILTINS}
