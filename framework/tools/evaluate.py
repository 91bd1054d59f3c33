"""`tapeline evaluate`: the test metrics of saved weights, and with ``--errors K`` their error report."""

from __future__ import annotations

from pathlib import Path

from framework.errors import TapelineError
from framework.recipe.sections import Recipe
from framework.runtime.process_state import restores_process_settings
from framework.training.error_report import ErrorRow, error_rows
from framework.training.run import Run, build_run
from framework.training.run_directory import WEIGHTS_FILE


def loaded_run(recipe: Recipe, weights: Path) -> Run:
    """`recipe`'s run (no leakage audit) with `weights` (a weights file or a run directory) loaded into its network.

    Raises:
        TapelineError: the file does not exist or does not fit the recipe's network.
    """
    file = weights / WEIGHTS_FILE if weights.is_dir() else weights
    if not file.is_file():
        raise TapelineError(f"weights file '{file}' does not exist")
    run = build_run(recipe)
    try:
        run.trainer.network.load_weights(file)
    except (ValueError, OSError) as error:
        raise TapelineError(f"cannot load '{file}' into model {recipe.model.name!r}: {error}") from None
    return run


@restores_process_settings
def evaluate_weights(recipe: Recipe, weights: Path) -> dict[str, float]:
    """Test metrics of `recipe`'s network with `weights` (a weights file or a run directory) loaded."""
    return loaded_run(recipe, weights).evaluate("test")


@restores_process_settings
def weights_errors(recipe: Recipe, weights: Path, split: str, top: int) -> tuple[dict[str, float], list[ErrorRow]]:
    """The metrics of `split` (``test``, ``train``: unshuffled, not augmented, or ``validation``) with `weights`
    loaded, and its error report: the `top` highest-loss and most confidently wrong samples of each output
    (`framework.training.error_report`). `TapelineError` when the recipe has no such split."""
    run = loaded_run(recipe, weights)
    result = run.predict(split)
    return result.metrics, error_rows(run.data, split, result, top)
