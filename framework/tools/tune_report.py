"""The end of `tapeline tune`: a table of the study's trials, the best recipe as YAML, and the study's plots."""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.errors import TrainingFailed
from framework.extras import pip_install
from framework.files import write_atomic, write_text
from framework.recipe.loader import recipe_to_yaml
from framework.recipe.search_space import Search, apply_values
from framework.recipe.yaml_reader import Document
from framework.tools.table_output import print_table

if TYPE_CHECKING:
    import optuna


BEST_RECIPE = "best_recipe.yaml"
HISTORY_PNG = "optimization_history.png"
IMPORTANCE_PNG = "param_importances.png"


def report(study: optuna.Study, document: Document, search: Search, directory: Path) -> int:
    """Prints the trials, writes `BEST_RECIPE` and the plots into `directory`; returns the exit code.

    `TrainingFailed` (exit 1) when no trial of the study completed: there is no best recipe.
    """
    from optuna.trial import TrialState

    print_trials(study, search)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    written = write_plots(study, search.metric, directory, len(complete))
    if not complete:
        raise TrainingFailed(f"no trial of study {study.study_name!r} completed, so there is no best recipe")
    best = study.best_trial
    header = (
        f"# best of study {study.study_name!r}: trial {best.number} ({best.user_attrs['run']['directory']}), "
        f"{search.metric} {best.value:.6g}\n"
    )
    write_text(directory / BEST_RECIPE, header + recipe_to_yaml(apply_values(document, best.params)))
    print(f"best: trial {best.number}, {search.metric} {best.value:.4g} ({format_params(best.params)})")
    print(f"wrote {directory / BEST_RECIPE}" + "".join(f", {name}" for name in written))
    return 0


def format_params(params: dict[str, Any]) -> str:
    """``key=value, ...`` with numbers to 4 significant digits."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


def format_value(value: Any) -> str:
    """A number to 4 significant digits; anything else as it is."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_trials(study: optuna.Study, search: Search) -> None:
    """A rich table: each trial's number, state, metric value and parameter values."""
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    counts = ", ".join(
        f"{sum(t.state == s for t in trials)} {s.name.lower()}"
        for s in sorted({t.state for t in trials}, key=lambda s: s.value)
    )
    print(
        f"study {study.study_name!r}: {len(trials)} trial{'s' * (len(trials) != 1)} ({counts}), {search.direction} "
        f"{search.metric}"
    )
    table = Table()
    for column in ["trial", "state", search.metric, *(p.key for p in search.parameters)]:
        table.add_column(column, justify="right" if column != "state" else "left")
    for trial in trials:
        value = format_value(trial.value) if trial.value is not None and math.isfinite(trial.value) else ""
        table.add_row(
            str(trial.number),
            trial.state.name.lower(),
            value,
            *(format_value(trial.params[p.key]) if p.key in trial.params else "" for p in search.parameters),
        )
    print_table(table)


def write_plots(study: optuna.Study, metric: str, directory: Path, complete: int) -> list[str]:
    """Writes the optimization history and (with 2 or more complete trials) the parameter importances; returns the files
    written.

    Prints why a plot is left out: matplotlib missing (the ``plots`` extra) or too few trials.
    """
    if importlib.util.find_spec("matplotlib") is None:
        print(f"plots left out: they need matplotlib ({pip_install('plots')})")
        return []
    import matplotlib
    import optuna
    from optuna.visualization import matplotlib as plots

    written = []
    with warnings.catch_warnings(), matplotlib.rc_context():  # Optuna's plots are experimental and set a pyplot style
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if complete:
            written.append(save(plots.plot_optimization_history(study, target_name=metric), directory / HISTORY_PNG))
        if complete < 2:
            print(f"parameter importances left out: they need 2 or more complete trials (got {complete})")
            return written
        try:
            written.append(save(plots.plot_param_importances(study, target_name=metric), directory / IMPORTANCE_PNG))
        except (ValueError, RuntimeError) as error:  # e.g. every complete trial drew the same values
            print(f"parameter importances left out: {error}")
    return written


def save(axes: Any, path: Path) -> str:
    """Saves the figure of matplotlib `axes` to `path` (atomically) and closes it; returns the file name."""
    import matplotlib.pyplot as plt

    figure = axes.figure
    figure.set_size_inches(8, 5)
    try:
        write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=100, bbox_inches="tight"))
    finally:
        plt.close(figure)
    return path.name
