"""The typed sections of a recipe (dataset, training; distribute in `framework.recipe.distribute_section`) and the
components chosen by name.

Each field's ``spec`` documents it: what `tapeline show`, the JSON schema and the recipe
checker's messages say about it. `Recipe` is the whole recipe; `framework.recipe.loader` reads and checks one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from framework.recipe.distribute_section import DistributeSection
from framework.recipe.schema import INTERNAL, Origins, Path, spec

INJECTED_ARGS = (
    "input_shape",
    "num_classes",
    "num_outputs",
    "output_activation",
    "outputs",
)  # models get these from the data
TRAINER_ARGS = ("network", "jit_optimizer")  # a Trainer class gets these from the run
DATASET_ARGS = ("shard",)  # a dataset builder gets this worker's file shard from the run (multi_worker)
STATEFUL_LAYER_ARGS = (
    "mean",
    "variance",
    "bin_boundaries",
    "vocabulary",
)  # preprocessing layers given these are not adapted
AUTO_STEPS_PER_EXECUTION = 16  # fewer Python round trips per epoch (see docs/benchmarks.md)
# Where XLA's compile of the update (0.5-0.6 s more in the first step for the seed CNN's Adam) and what it saves (about
# 6 ms of each batch-32 step) evened out, measured side by side on 2 CPU cores (docs/benchmarks.md, 2026-12-03)
XLA_UPDATE_MIN_STEPS = 100
INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(steps?|minutes?)\s*$")
TRAINABLE = re.compile(r"^(all|head|top_[1-9][0-9]*)$")


def _positive(value: int) -> bool:
    return value > 0


def parse_interval(value: int | str | None) -> tuple[Literal["steps", "minutes"], float] | None:
    """`training.checkpoint_every` as ``("steps", n)`` or ``("minutes", m)``; None for null or a bad value.

    An integer counts steps; a string is ``"<number> steps"`` (a whole number) or ``"<number> minutes"``.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return ("steps", value) if value > 0 else None
    match = INTERVAL.match(value)
    if match is None or float(match[1]) <= 0:
        return None
    if match[2].startswith("step"):
        return ("steps", int(match[1])) if match[1].isdigit() else None
    return ("minutes", float(match[1]))


@dataclass
class Component:
    """Something chosen by name, with keyword arguments; a bare string means ``{name: <string>}``."""

    SHORTHAND = "name"
    name: str = field(metadata=spec("Registered name, or a 'package.module:attribute' path."))
    args: dict[str, Any] = field(default_factory=dict, metadata=spec("Keyword arguments for it."))


@dataclass
class DatasetSection(Component):
    """The data: a registered dataset, its args, and how much of the training split to hold out."""

    validation_split: float = field(
        default=0.0,
        metadata=spec(
            "Fraction of the training samples held out for validation; `split` says which ones.",
            expect="a number from 0 up to (not including) 1",
            valid=lambda v: 0.0 <= v < 1.0,
        ),
    )
    split: Literal["last", "random", "stratified"] = field(
        default="last",
        metadata=spec(
            "Which training samples `validation_split` holds out: 'last' (the last ones, as Keras's `fit`), "
            "'random' (a random subset drawn with the recipe's seed) or 'stratified' (the same fraction of every "
            "class, drawn at random; classification and binary labels)."
        ),
    )
    split_by: str | None = field(
        default=None,
        metadata=spec(
            "Group split: samples of one group all land on the same side of `validation_split` (one patient, camera "
            "or photo burst). A column of a CSV dataset's training file, or a regular expression over the sample "
            "file paths whose first group (else the whole match) names the group: '([^/]+)_\\d+\\.png$'. "
            "Groups are drawn at random with the recipe's seed until the fraction is reached.",
            expect="a CSV column name or a regular expression, or null",
            valid=lambda v: v is None or bool(v),
        ),
    )
    audit: Literal["warn", "strict", "off"] | bool = field(
        default="warn",
        metadata=spec(
            "The leakage audit `validate` and `train` run before training (`framework.data.audit`): exact and "
            "near-duplicate samples across splits, one input with conflicting labels, class balance per split. "
            "'warn' (or true) prints the findings, 'strict' also stops with exit 2, 'off' (or false) skips it."
        ),
    )

    @property
    def audit_mode(self) -> str:
        """`audit` as 'warn', 'strict' or 'off' (YAML reads an unquoted off as false)."""
        return {False: "off", True: "warn"}.get(self.audit, self.audit)

    limit: int | None = field(
        default=None,
        metadata=spec(
            "Use only the first N training samples (quick checks, benchmarks).",
            expect="a positive integer or null",
            valid=lambda v: v is None or v > 0,
        ),
    )
    cache: str = field(
        default="none",
        metadata=spec(
            "Keep a streamed dataset's decoded samples after the first epoch: 'none', 'memory' (RAM grows with the "
            "data), "
            "or a file path prefix (tf.data's cache files, on disk). In-memory arrays need none.",
            expect="'none', 'memory' or a file path prefix",
            valid=lambda v: bool(v),
        ),
    )
    preprocess: list[Component] | None = field(
        default=None,
        metadata=spec(
            "Keras preprocessing layers applied to the inputs of every split, in order: "
            "[{name: Rescaling, args: {scale: 0.00392}}, Normalization, ...]. A layer that learns from data "
            "(Normalization without mean/variance ...) is adapted on the training split only; with several inputs "
            "each gets its own copy. "
            "null: the dataset's documented default (the image datasets rescale pixels by 1/255); []: none."
        ),
    )
    augment: list[Component] = field(
        default_factory=list,
        metadata=spec(
            "Keras preprocessing layers applied to training batches only, after `preprocess`: RandomFlip, "
            "RandomRotation, RandAugment ..."
        ),
    )


@dataclass
class Phase:
    """One phase of `training.phases`: some epochs with some of the network's layers trainable (fine-tuning)."""

    epochs: int = field(metadata=spec("Epochs of this phase.", expect="a positive integer", valid=_positive))
    trainable: str = field(
        default="all",
        metadata=spec(
            "Which layers train: 'all'; 'head' (every layer but the model's `backbone`); 'top_N' (the head and the "
            "last N layers of the backbone; its BatchNormalization layers stay frozen). The backbone always runs in "
            "inference mode (see docs/models.md#fine-tuning-in-phases).",
            expect="'all', 'head' or 'top_N' (N a positive integer, e.g. 'top_20')",
            valid=lambda v: TRAINABLE.match(v) is not None,
        ),
    )
    learning_rate: float | None = field(
        default=None,
        metadata=spec(
            "The optimizer's learning rate from this phase's first epoch on; null: the one it has (the recipe's, "
            "or the last phase's).",
            expect="a positive number or null",
            valid=lambda v: v is None or 0 < v < float("inf"),
        ),
    )


@dataclass
class TrainingSection:
    """How to train."""

    epochs: int = field(
        default=5, metadata=spec("Passes over the training data.", expect="a positive integer", valid=_positive)
    )
    batch_size: int = field(
        default=32,
        metadata=spec("Samples per step (per replica when distributed).", expect="a positive integer", valid=_positive),
    )
    eval_batch_size: int | None = field(
        default=None,
        metadata=spec(
            "Samples per batch of the validation and test passes (per replica when distributed); they compute no "
            "gradients, so a larger batch is faster and the results are the same. null: `batch_size`.",
            expect="a positive integer or null",
            valid=lambda v: v is None or v > 0,
        ),
    )
    shuffle: bool = field(default=True, metadata=spec("Reshuffle the training data every epoch."))
    steps_per_execution: int | Literal["auto"] = field(
        default="auto",
        metadata=spec(
            "Steps run per compiled call; batch hooks see the last batch of each call. 'auto': "
            f"{AUTO_STEPS_PER_EXECUTION}, or the most steps dividing each batch hook's batch_interval (1 when a "
            "plugin or Keras callback needs every batch).",
            expect="a positive integer or 'auto'",
            valid=lambda v: v == "auto" or v > 0,
        ),
    )
    jit_compile: bool | Literal["auto", "optimizer"] = field(
        default="auto",
        metadata=spec(
            "Compile the whole step with XLA (true), only the optimizer's update ('optimizer': fuses Adam's many "
            "small ops; one device only), or nothing (false). 'auto': 'optimizer' when the run trains at least "
            f"{XLA_UPDATE_MIN_STEPS} steps (epochs x steps per epoch, or an unknown number), else false: a shorter run "
            "does not win back the compile.",
            expect="true, false, 'auto' or 'optimizer'",
        ),
    )
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = field(
        default="float32",
        metadata=spec(
            "Keras dtype policy for layers (mixed_* keep variables in float32). 'auto': mixed_float16 on a GPU, "
            "mixed_bfloat16 on a CPU with native bfloat16 (AVX-512 BF16 or AMX), else float32."
        ),
    )
    class_weight: dict[int, float] | None = field(
        default=None,
        metadata=spec(
            "Loss weight per class id, as in Keras's `fit(class_weight=...)`: {0: 1.0, 3: 5.0}; classes not listed "
            "weigh 1.",
            expect="a mapping from class id (0, 1, ...) to a weight of 0 or more, or null",
            valid=lambda v: v is None or all(0 <= w < float("inf") for w in v.values()),
        ),
    )
    deterministic: bool = field(default=False, metadata=spec("Enable TensorFlow op determinism (slower)."))
    checkpoint_every: int | str | None = field(
        default=None,
        metadata=spec(
            "Also save the resumable state inside epochs: every N steps (500 or '500 steps') or every M minutes ('30 "
            "minutes'), "
            "between compiled calls, at the first call boundary at or past each mark. The state is always saved at "
            "epoch ends; "
            "`--resume` continues from the newest one at the step it was saved. A save is skipped, with a warning, "
            "while the weights are not finite.",
            expect="a positive integer of steps, 'N steps', 'M minutes' or null",
            valid=lambda v: v is None or parse_interval(v) is not None,
        ),
    )
    output_dir: str = field(
        default="runs", metadata=spec("Where runs go: each run gets <output_dir>/<name>/version_<N>.")
    )
    phases: list[Phase] | None = field(
        default=None,
        metadata=spec(
            "Train in phases, e.g. [{epochs: 3, trainable: head}, {epochs: 5, trainable: top_20, learning_rate: "
            "1.0e-5}]: the head first, then the top of the backbone at a lower learning rate; `epochs` is then "
            "their sum (leave it out, or give that sum). null or []: one phase, all layers trainable."
        ),
    )


@dataclass
class Recipe:
    """A whole recipe."""

    name: str = field(metadata=spec("Name of the run; also names its output folder."))
    dataset: DatasetSection = field(metadata=spec("The dataset section."))
    model: Component = field(metadata=spec("The network: a registered model or 'module:callable'."))
    seed: int | None = field(
        default=None,
        metadata=spec(
            "Seed for Python, NumPy, TensorFlow and shuffling.",
            expect="an integer from 0 to 4294967295 or null",
            valid=lambda v: v is None or 0 <= v < 2**32,
        ),
    )
    optimizer: Component = field(default_factory=lambda: Component("adam"), metadata=spec("A Keras optimizer."))
    task: (
        Literal["auto", "classification", "binary", "multilabel", "regression"]
        | dict[str, Literal["auto", "classification", "binary", "multilabel", "regression"]]
    ) = field(
        default="auto",
        metadata=spec(
            "What the labels are: class ids (classification), one 0/1 value (binary), several 0/1 values (multilabel) "
            "or real values (regression); per output name for several outputs. 'auto': inferred from the training "
            "labels when unambiguous (integers: classification; real values: regression)."
        ),
    )
    loss: Component | dict[str, Component] | None = field(
        default=None,
        metadata=spec(
            "A Keras loss, or one per output name; null: the task's default (sparse_categorical_crossentropy, "
            "binary_crossentropy, mean_squared_error)."
        ),
    )
    loss_weights: dict[str, float] | None = field(
        default=None,
        metadata=spec(
            "Weight of each output's loss in the total, by output name (several outputs).",
            expect="a mapping from output name to a number, or null",
        ),
    )
    metrics: list[Component] | dict[str, list[Component]] | None = field(
        default=None,
        metadata=spec(
            "Keras metrics, or a list per output name; null: the task's defaults (accuracy; accuracy and auc; "
            "mean_absolute_error and root_mean_squared_error)."
        ),
    )
    trainer: Component = field(
        default_factory=lambda: Component("default"),
        metadata=spec(
            "The Trainer class: 'default' (framework.Trainer) or 'package.module:Class', a subclass with its own "
            "train_step."
        ),
    )
    training: TrainingSection = field(default_factory=TrainingSection, metadata=spec("The training section."))
    distribute: DistributeSection = field(default_factory=DistributeSection, metadata=spec("The distribution section."))
    plugins: list[Component] = field(default_factory=list, metadata=spec("Plugins, called in this order."))
    extends: str | None = field(
        default=None, metadata=spec("A recipe this one builds on (path relative to this file).")
    )
    search: dict[str, Any] | None = field(
        default=None,
        metadata=spec(
            "What `tapeline tune` searches (space, metric, direction, trials; see docs/tuning.md); other commands do "
            "not read it."
        ),
    )

    origins: Origins = field(default_factory=Origins, repr=False, compare=False, metadata=INTERNAL)

    def locate(self, path: Path) -> str:
        """Where the value at `path` was written (``file:line`` or ``--set key=value``), for messages."""
        return self.origins.locate(path)
