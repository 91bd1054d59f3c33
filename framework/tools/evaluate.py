"""`tapeline evaluate`: the test metrics of saved weights."""

from __future__ import annotations

from pathlib import Path

from framework.errors import TapelineError
from framework.recipe.sections import Recipe
from framework.runtime.process_state import restores_process_settings
from framework.training.run import build_run
from framework.training.run_directory import WEIGHTS_FILE


@restores_process_settings
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
