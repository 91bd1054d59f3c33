"""The ``search:`` section of a recipe: what `tapeline tune` varies and what it optimizes.

```yaml
search:
  metric: val_loss          # an entry of the epoch logs (default val_loss)
  direction: minimize       # or maximize
  trials: 20                # trials this `tapeline tune` adds to the study
  timeout: 3600             # seconds; no new trial starts after it (default: none)
  space:                    # dotted recipe keys, as for --set, to distributions
    optimizer.args.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
    model.args.dropout: {uniform: [0.0, 0.5]}
    model.args.units: {int: [64, 256], step: 64}
    training.batch_size: {choice: [32, 64, 128]}
```

Everything is checked before a trial runs: the section's own keys and types, each
distribution (bounds, names), and each key against the recipe, by applying the values a
trial could draw (both bounds, every choice) like ``--set`` overrides and checking the
recipe that results. Problems are reported together at the search section's lines. No
TensorFlow and no Optuna are imported here.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from framework.errors import Problem, RecipeError
from framework.recipe.loader import apply_overrides, parse_recipe
from framework.recipe.schema import INVALID, Checker, dotted, quote, spec, suggest
from framework.recipe.sections import Recipe
from framework.recipe.yaml_reader import Document

if TYPE_CHECKING:
    import optuna


SEARCH = "search"
DISTRIBUTIONS = ("choice", "int", "log_uniform", "uniform")
EXAMPLE = "{log_uniform: [0.0001, 0.01]}, {uniform: [low, high]}, {int: [low, high], step: 1} or {choice: [a, b]}"
CHOICE_TYPES = (str, int, float, bool, type(None))  # what Optuna's CategoricalDistribution stores


@dataclass
class SearchSection:
    """The ``search:`` section as written: the space and how trials are judged and counted."""

    space: dict[str, Any] = field(metadata=spec("Dotted recipe keys (as for --set) to distributions: " + EXAMPLE + "."))
    metric: str = field(
        default="val_loss", metadata=spec("The epoch-log entry a trial is judged by (its best epoch counts).")
    )
    direction: Literal["minimize", "maximize"] = field(
        default="minimize", metadata=spec("Whether a lower or a higher metric is better.")
    )
    trials: int = field(
        default=10,
        metadata=spec(
            "Trials a `tapeline tune` adds to the study.", expect="a positive integer", valid=lambda v: v > 0
        ),
    )
    timeout: float | None = field(
        default=None,
        metadata=spec(
            "Seconds after which no new trial starts.",
            expect="a positive number of seconds or null",
            valid=lambda v: v is None or v > 0,
        ),
    )


@dataclass(frozen=True)
class Parameter:
    """One searched recipe value: its dotted key and distribution (``kind`` is one of `DISTRIBUTIONS`)."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    choices: tuple[Any, ...] = ()

    def candidates(self) -> list[Any]:
        """The values checked against the recipe before any trial: both bounds, or every choice."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]

    def suggest(self, trial: optuna.Trial) -> Any:
        """A value drawn for `trial` (Optuna names the parameter by the dotted key)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=self.step)
        return trial.suggest_float(self.key, self.low, self.high, log=self.kind == "log_uniform")


@dataclass(frozen=True)
class Search:
    """A checked search section."""

    parameters: tuple[Parameter, ...]
    metric: str
    direction: Literal["minimize", "maximize"]
    trials: int
    timeout: float | None


def split_search(document: Document) -> Any:
    """Removes the ``search:`` section from `document` and returns it (None when there is none).

    Its lines stay in ``document.origin``, so problems in it are still located.
    """
    return document.data.pop(SEARCH, None)


def check_search(document: Document, data: Any, problems: list[Problem] = ()) -> tuple[Recipe, Search]:
    """The base recipe of `document` and its checked search section `data` (see the module docstring).

    `RecipeError` lists every problem together: `problems` (found while reading), the
    recipe's own at their lines, then the search section's. Each parameter's candidates are
    applied one at a time; what goes wrong is reported at the parameter's line in the search
    section, with the value that caused it.
    """
    checker = Checker(document.locate, document.spelled)
    section, parameters = _read_section(checker, document, data)
    try:
        recipe, found = parse_recipe(copy.deepcopy(document), list(problems)), []
    except RecipeError as error:
        recipe, found = None, error.problems
    found += checker.problems + _candidate_problems(
        document, parameters, {p.message for p in found} | {p.message for p in checker.problems}
    )
    if section is not None and recipe is not None:
        found += _metric_problems(document, section.metric, recipe)
    if found:
        raise RecipeError(found)
    return recipe, Search(tuple(parameters), section.metric, section.direction, section.trials, section.timeout)


def _read_section(checker: Checker, document: Document, data: Any) -> tuple[SearchSection | None, list[Parameter]]:
    """The section's settings (None if invalid) and its valid parameters, after recording every problem."""
    if data is None:
        checker.problems.append(
            Problem(
                document.default_where,
                "`tapeline tune` needs a `search:` section with a `space:` mapping dotted keys "
                "to distributions, like {optimizer.args.learning_rate: {log_uniform: [0.0001, 0.01]}}",
            )
        )
        return None, []
    section = checker.dataclass(data, SearchSection, (SEARCH,))
    space = data.get("space") if isinstance(data, dict) else None
    if space == {}:
        checker.fail(
            (SEARCH, "space"), "`search.space` is empty; name at least one dotted recipe key with a distribution"
        )
    parameters = (
        [read_parameter(checker, key, value) for key, value in space.items()] if isinstance(space, dict) else []
    )
    return (None if section is INVALID else section), [p for p in parameters if p is not None]


def read_parameter(checker: Checker, key: Any, value: Any) -> Parameter | None:
    """One ``space`` entry checked (None after recording its problems)."""
    path = (SEARCH, "space", key)
    if not isinstance(key, str) or not key or "" in key.split("."):
        checker.fail(
            path,
            f"`search.space` keys must be dotted recipe keys like 'optimizer.args.learning_rate' (got {quote(key)})",
        )
        return None
    where = f"`{dotted(path)}`"
    names = [name for name in value if name != "step"] if isinstance(value, dict) else []
    if len(names) != 1:
        got = f"got {quote(value)}" if not names else f"got {', '.join(quote(n) for n in names)}"
        checker.fail(path, f"{where} must be one distribution: {EXAMPLE} ({got})")
        return None
    kind = names[0]
    if kind not in DISTRIBUTIONS:
        checker.fail(
            (*path, kind),
            f"{where}: unknown distribution {quote(kind)}; distributions: {', '.join(DISTRIBUTIONS)}"
            + suggest(str(kind), DISTRIBUTIONS),
        )
        return None
    if "step" in value and kind != "int":
        checker.fail((*path, "step"), f"{where}: `step` goes with `int` only (got it with `{kind}`)")
        return None
    problem = (
        _choice_problem(value[kind]) if kind == "choice" else _range_problem(kind, value[kind], value.get("step", 1))
    )
    if problem:
        checker.fail((*path, kind), f"{where}: {problem}")
        return None
    if kind == "choice":
        return Parameter(key, kind, choices=tuple(value[kind]))
    low, high = value[kind] if kind == "int" else map(float, value[kind])
    return Parameter(key, kind, low, high, value.get("step", 1))


def _choice_problem(values: Any) -> str | None:
    """Why `values` cannot be a ``choice``, or None."""
    if not isinstance(values, list) or not values:
        return f"`choice` needs a non-empty list of values (got {quote(values)})"
    odd = [v for v in values if not isinstance(v, CHOICE_TYPES)]
    if odd:
        return (
            f"`choice` values must be strings, numbers, true/false or null (got {quote(odd[0])}); search over a list "
            "or mapping by naming its items' keys"
        )
    return None


def _range_problem(kind: str, bounds: Any, step: Any) -> str | None:
    """Why `bounds` (and `step`) cannot define a ``uniform``, ``log_uniform`` or ``int`` range, or None."""
    number = int if kind == "int" else (int, float)
    words = "integers" if kind == "int" else "numbers"
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, number) and not isinstance(b, bool) and math.isfinite(b) for b in bounds)
    ):
        return f"`{kind}` needs [low, high], two finite {words} (got {quote(bounds)})"
    low, high = bounds
    if low >= high:
        return f"`{kind}` needs low < high (got [{low}, {high}])"
    if kind == "log_uniform" and low <= 0:
        return (
            f"`log_uniform` needs low > 0, it draws the logarithm uniformly (got [{low}, {high}]); "
            f"use `uniform` to include {low}"
        )
    if kind == "int" and (not isinstance(step, int) or isinstance(step, bool) or step <= 0):
        return f"`step` must be a positive integer (got {quote(step)})"
    if kind == "int" and (high - low) % step:
        return (
            f"`int` range [{low}, {high}] is not a whole number of steps of {step}; make high - low a multiple of step"
        )
    return None


def override(key: str, value: Any) -> str:
    """``key=value`` for `apply_overrides`: the value as JSON, which YAML reads back unchanged."""
    return f"{key}={json.dumps(value)}"


def apply_values(document: Document, values: dict[str, Any]) -> Recipe:
    """The recipe of `document` (left unchanged) with `values` set at their dotted keys; `RecipeError` if invalid."""
    trial = copy.deepcopy(document)
    return parse_recipe(trial, apply_overrides(trial, [override(key, value) for key, value in values.items()]))


def _candidate_problems(document: Document, parameters: list[Parameter], known: set[str]) -> list[Problem]:
    """What goes wrong when each parameter's candidates are applied, at the parameter's line (`known` messages left
    out)."""
    found = []
    for parameter in parameters:
        where = document.locate((SEARCH, "space", parameter.key))
        for value in parameter.candidates():
            try:
                apply_values(document, {parameter.key: value})
            except RecipeError as error:
                new = [p.message for p in error.problems if p.message not in known]
                known.update(new)
                found += [Problem(where, f"{message} (search value {quote(value)})") for message in new]
    return found


def _metric_problems(document: Document, metric: str, recipe: Recipe) -> list[Problem]:
    """A ``val_*`` metric without validation data can never be reported."""
    if metric.startswith("val_") and recipe.dataset.validation_split == 0:
        where = (
            document.locate((SEARCH, "metric")) if (SEARCH, "metric") in document.origin else document.locate((SEARCH,))
        )
        return [
            Problem(
                where,
                f"`search.metric` is {metric!r}, but the recipe holds out no validation data; "
                "set `dataset.validation_split` (e.g. 0.1) or search on a training metric such as 'loss'",
            )
        ]
    return []
