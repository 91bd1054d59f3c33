"""The built-in model builders by name, as the `model` registry lists them (`tapeline list models`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.model.backbone import backbone
from framework.model.networks import fast_cnn, mlp, seed_cnn

if TYPE_CHECKING:
    import keras


def builtins() -> dict[str, Callable[..., keras.Model]]:
    """The built-in model builders by name."""
    return {"seed_cnn": seed_cnn, "fast_cnn": fast_cnn, "mlp": mlp, "backbone": backbone}
