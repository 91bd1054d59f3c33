"""The run directory: where a run goes, creating it safely, whether a run there can be resumed, its history files.

A run directory holds ``recipe.yaml`` (the resolved recipe), ``history.json``/``history.csv``,
``model.weights.h5``, ``run.json`` (the summary of the last training session: ``status``
``completed``, ``stopped_early``, ``interrupted``, ``preempted`` or ``failed``) and what plugins
write. These checks need no TensorFlow and run before anything is built.
"""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from framework.errors import NothingToDo, TapelineError
from framework.files import write_csv, write_json
from framework.recipe.loader import load_recipe, recipe_to_yaml
from framework.recipe.registry import PLUGINS
from framework.recipe.sections import Recipe
from framework.training.layout import saved_layout
from framework.training.state import complete_state, read_progress

RECIPE_FILE = "recipe.yaml"
AUDIT_FILE = "audit.json"  # the leakage audit's findings (`framework.data.audit`)
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
WEIGHTS_FILE = "model.weights.h5"
INTERRUPTED_FILE = "interrupted.weights.h5"
SUMMARY_FILE = "run.json"
ENDED = ("completed", "stopped_early")  # run.json statuses of a run that has nothing left to train


def next_run_directory(recipe: Recipe) -> Path:
    """``<output_dir>/<name>/version_<N>`` with the first N not used yet."""
    parent = Path(recipe.training.output_dir) / recipe.name
    taken = {p.name for p in parent.glob("version_*")} if parent.is_dir() else set()
    return parent / next(f"version_{n}" for n in range(len(taken) + 1) if f"version_{n}" not in taken)


def prepare_directory(directory: Path, overwrite: bool) -> Path:
    """Creates `directory`; an existing run there is only replaced with `overwrite`, other content never."""
    if directory.exists() and not directory.is_dir():
        raise TapelineError(f"output directory '{directory}' is a file")
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / RECIPE_FILE).is_file():
            raise TapelineError(
                f"output directory '{directory}' is not empty and holds no run; choose another --output"
            )
        if not overwrite:
            raise TapelineError(
                f"output directory '{directory}' already holds a run; pass --overwrite to replace it, or --resume to "
                "continue it"
            )
        shutil.rmtree(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TapelineError(f"cannot create output directory '{directory}': {error}") from None
    return directory


def check_resumable(recipe: Recipe, directory: Path) -> None:
    """Checks, before anything is built or written, that `recipe` can continue the run in `directory`.

    `TapelineError` with a diff unless `recipe` matches the run's saved recipe, or when it asks for
    fewer epochs than are done; `NothingToDo` when the run ended (it finished or stopped early; a
    failed run has not ended) and `training.epochs` is not raised above the saved value.

    What may differ, as none changes what a training step computes: `training.epochs`,
    `training.checkpoint_every`, `training.eval_batch_size`, the args a plugin lists in its
    ``resume_may_change`` (such as the console's ``mode``) and the ``distribute`` section
    (`framework.training.layout` keeps the global batch).
    """
    saved_file = directory / RECIPE_FILE
    if not saved_file.is_file():
        raise TapelineError(f"'{directory}' is not a run directory (no {RECIPE_FILE})")
    saved_recipe = load_recipe(saved_file, paths_exist=False)
    saved_training = saved_recipe.training
    training = replace(
        recipe.training,
        epochs=saved_training.epochs,
        checkpoint_every=saved_training.checkpoint_every,
        eval_batch_size=saved_training.eval_batch_size,
    )
    saved = recipe_to_yaml(without_free_args(saved_recipe, saved_recipe))
    changed = replace(
        recipe, training=training, distribute=saved_recipe.distribute
    )  # workers: framework.training.layout
    wanted = recipe_to_yaml(without_free_args(changed, saved_recipe))
    if wanted != saved:
        diff = difflib.unified_diff(
            saved.splitlines(), wanted.splitlines(), str(saved_file), "this recipe", lineterm=""
        )
        raise TapelineError(
            "cannot resume: the recipe differs from the run's (only training.epochs, training.checkpoint_every, "
            "training.eval_batch_size, the distribute section and plugin args such as the console's mode may "
            "change):\n" + "\n".join(diff)
        )
    if recipe.distribute != saved_recipe.distribute and not has_layout(directory):
        raise TapelineError(
            "cannot resume with another `distribute` section: the run's state was saved by an older Tapeline, which "
            "did not record its global batch; resume with the run's own `distribute` section"
        )
    check_epochs_left(directory, recipe.training.epochs, saved_training.epochs)


def has_layout(directory: Path) -> bool:
    """Whether the run's newest state records its layout (`framework.training.layout`); true when it has no state."""
    return complete_state(directory) is None or saved_layout(directory) is not None


def without_free_args(recipe: Recipe, saved: Recipe) -> Recipe:
    """`recipe` less the args that may change on resume: those in the ``resume_may_change`` of each
    plugin that has the same name at the same place in `saved` (display settings: they change no
    step and no saved state)."""
    plugins = [
        replace(plugin, args={k: v for k, v in plugin.args.items() if k not in resume_may_change(plugin.name)})
        if index < len(saved.plugins) and saved.plugins[index].name == plugin.name
        else plugin
        for index, plugin in enumerate(recipe.plugins)
    ]
    return replace(recipe, plugins=plugins)


def resume_may_change(plugin: str) -> tuple[str, ...]:
    """The args of the plugin named `plugin` that may differ on ``--resume`` (its ``resume_may_change``)."""
    return tuple(getattr(PLUGINS.get(plugin).target, "resume_may_change", ()))


def check_epochs_left(directory: Path, epochs: int, saved_epochs: int) -> None:
    """Refuses `epochs` below the epochs done; `NothingToDo` for an ended run unless `epochs` > `saved_epochs`."""
    progress = read_progress(directory)
    done, steps = progress["epochs_done"], progress["steps_done"]
    if epochs < done + bool(steps):
        started = f" and {steps} steps of epoch {done + 1}" if steps else ""
        raise TapelineError(
            f"cannot resume {directory} with training.epochs={epochs}: it has done {done} epochs{started}; ask for "
            f"{done + bool(steps)} or more"
        )
    summary = run_summary(directory)
    if summary.get("status") not in ENDED or summary.get("epochs") != done or epochs > saved_epochs:
        return  # failed or cut short after its last saved state, or given more epochs
    reason = summary.get("stop_reason")
    ended = (
        f"finished all {done} epochs"
        if done == saved_epochs
        else f"stopped early after {done} of {saved_epochs} epochs" + (f" ({reason})" if reason else "")
    )
    raise NothingToDo(
        f"nothing to do: {directory} {ended}; raise training.epochs above {saved_epochs} (--set training.epochs=N) to "
        "train more"
    )


def run_summary(directory: Path) -> dict[str, Any]:
    """The run's ``run.json`` (written when a training session ends); empty when there is none."""
    try:
        summary = json.loads((directory / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def write_history(directory: Path, history: list[dict[str, float]]) -> None:
    """The run's history rows as ``history.json`` (a list of rows) and ``history.csv`` (a column per entry),
    atomically."""
    write_json(directory / HISTORY_JSON, history)
    write_csv(directory / HISTORY_CSV, history, list(dict.fromkeys(key for row in history for key in row)))
