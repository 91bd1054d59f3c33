"""Tapeline's built-in plugins, selected in recipes by their ``name``."""

from __future__ import annotations

from plugins.console import Console
from plugins.evaluation import Evaluation

BUILTINS = (Console, Evaluation)


def builtins() -> dict[str, type]:
    """The built-in plugin classes by name."""
    return {plugin.name: plugin for plugin in BUILTINS}
