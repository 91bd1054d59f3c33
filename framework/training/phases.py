"""`training.phases`: fine-tuning in phases, each some epochs with some layers trainable and its learning rate.

The Keras transfer-learning guide's recipe (https://keras.io/guides/transfer_learning/):
train the new head on a frozen pretrained backbone, then unfreeze the backbone's top layers
at a low learning rate, its BatchNormalization layers left frozen and in inference mode (the
`backbone` model calls its backbone with ``training=False``). A phase's ``trainable``:

- ``all``: every layer (the backbone's BatchNormalization layers stay frozen);
- ``head``: every layer but the nested model named ``backbone``;
- ``top_N``: the head and the backbone's last N layers, BatchNormalization layers left out.

`PhaseSwitch` applies a phase when its first epoch begins, before any other callback: it sets
the layers' ``trainable`` flags, assigns the learning rate and retraces the train step
(`Trainer.retrace`). The optimizer is built over every weight any phase trains, before the
first phase (or by the first-step check and the resumed state, with every layer trainable), so
its slots exist for all of them and a phase updates only its own. A resumed run applies the
phase of the epoch it resumes in; the optimizer's learning rate and slots come from the
saved state, so resuming mid-phase continues exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from framework.model.backbone import BACKBONE

if TYPE_CHECKING:
    from framework.recipe.sections import Phase


def phase_index(phases: list[Phase], epoch: int) -> int:
    """The index of the phase that epoch `epoch` (from 0) belongs to."""
    end = 0
    for index, phase in enumerate(phases):
        end += phase.epochs
        if epoch < end:
            return index
    return len(phases) - 1


def backbone_of(network: keras.Model) -> keras.Model | None:
    """The network's nested model named `BACKBONE`, or None."""
    return next((layer for layer in network.layers if layer.name == BACKBONE), None)


def phase_problem(network: keras.Model, optimizer: keras.optimizers.Optimizer, phase: Phase) -> str | None:
    """Why `phase` cannot train `network` with `optimizer` (no backbone for ``head``/``top_N``, N too large, a
    learning rate for a schedule), or None."""
    found = backbone_of(network)
    if phase.trainable != "all" and found is None:
        names = ", ".join(layer.name for layer in network.layers)
        return (
            f"trainable {phase.trainable!r} needs a network with a nested model named {BACKBONE!r} "
            f"(model: backbone builds one; this network's layers: {names}); use 'all'"
        )
    if phase.trainable.startswith("top_") and int(phase.trainable[4:]) > len(found.layers):
        return f"trainable {phase.trainable!r} asks for more layers than the backbone's {len(found.layers)}"
    if phase.learning_rate is not None and not isinstance(optimizer.learning_rate, keras.Variable):
        return (
            f"learning_rate {phase.learning_rate} needs an optimizer with a constant learning rate (this one has a "
            "schedule)"
        )
    return None


def sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """`layer` and every layer nested in it (inside nested models too)."""
    return [layer, *(inner for child in getattr(layer, "layers", []) for inner in sublayers(child))]


def set_trainable(network: keras.Model, trainable: str) -> None:
    """Sets the ``trainable`` flag of every layer of `network` for a phase's `trainable` (see the module)."""
    network.trainable = True
    found = backbone_of(network)
    if found is None:
        return
    if trainable == "head":
        found.trainable = False
        return
    kept = len(found.layers) if trainable == "all" else int(trainable[4:])
    for index, layer in enumerate(found.layers):
        layer.trainable = index >= len(found.layers) - kept
    for layer in sublayers(found):  # also inside nested blocks (KerasHub backbones)
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


class PhaseSwitch(keras.callbacks.Callback):
    """Applies `training.phases` as epochs begin (the first callback of ``fit``); see the module docstring."""

    def __init__(self, phases: list[Phase]) -> None:
        super().__init__()
        self.phases = phases
        self.current: int | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.model.optimizer.built:  # slots for every weight a phase may train
            set_trainable(self.model.network, "all")
            self.model.optimizer.build(self.model.trainable_variables)
            self.current = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        index = phase_index(self.phases, epoch)
        if index == self.current:
            return
        phase = self.phases[index]
        set_trainable(self.model.network, phase.trainable)
        if phase.learning_rate is not None and epoch == self.first_epoch(index):  # resumed mid-phase: the saved one
            self.model.optimizer.learning_rate = phase.learning_rate
        self.model.retrace()
        self.current = index
        weights = sum(math.prod(v.shape) for v in self.model.network.trainable_weights)
        rate = float(self.model.optimizer.learning_rate.numpy())
        print(
            f"phase {index + 1}/{len(self.phases)} (epoch {epoch + 1}): trainable {phase.trainable} "
            f"({weights:,} weights), learning rate {rate:g}",
            flush=True,
        )

    def first_epoch(self, index: int) -> int:
        """The first epoch (from 0) of phase `index`."""
        return sum(phase.epochs for phase in self.phases[:index])
