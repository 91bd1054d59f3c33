"""Recipes: YAML files that choose the dataset, model, optimizer, loss, training settings and plugins.

`load_recipe` reads a recipe with a safe YAML loader, applies ``extends:`` and ``--set``
overrides, and checks everything (types, ranges, names, args) before anything is built. All
problems are raised together as one `RecipeError`, each with its file and line.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal

import yaml

from framework.errors import Problem, RecipeError, RegistryError
from framework.registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, PLUGINS, PREPROCESSING, TRAINERS, Registry
from framework.schema import INVALID, Checker, Path, dotted, quote, signature_parameters, spec
from framework.sections import DATASET_ARGS, INJECTED_ARGS, TRAINER_ARGS, Component, DatasetSection, DistributeSection, TrainingSection
from framework.yaml_reader import Document, read_value, read_yaml

@dataclass
class Recipe:
    """A whole recipe."""

    name: str = field(metadata=spec("Name of the run; also names its output folder."))
    dataset: DatasetSection = field(metadata=spec("The dataset section."))
    model: Component = field(metadata=spec("The network: a registered model or 'module:callable'."))
    seed: int | None = field(
        default=None,
        metadata=spec("Seed for Python, NumPy, TensorFlow and shuffling.", expect="an integer from 0 to 4294967295 or null", valid=lambda v: v is None or 0 <= v < 2**32),
    )
    optimizer: Component = field(default_factory=lambda: Component("adam"), metadata=spec("A Keras optimizer."))
    task: Literal["auto", "classification", "binary", "multilabel", "regression"] | dict[str, Literal["auto", "classification", "binary", "multilabel", "regression"]] = field(
        default="auto",
        metadata=spec(
            "What the labels are: class ids (classification), one 0/1 value (binary), several 0/1 values (multilabel) "
            "or real values (regression); per output name for several outputs. 'auto': inferred from the training "
            "labels when unambiguous (integers: classification; real values: regression)."
        ),
    )
    loss: Component | dict[str, Component] | None = field(
        default=None,
        metadata=spec("A Keras loss, or one per output name; null: the task's default (sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error)."),
    )
    loss_weights: dict[str, float] | None = field(
        default=None,
        metadata=spec("Weight of each output's loss in the total, by output name (several outputs).", expect="a mapping from output name to a number, or null"),
    )
    metrics: list[Component] | dict[str, list[Component]] | None = field(
        default=None,
        metadata=spec("Keras metrics, or a list per output name; null: the task's defaults (accuracy; accuracy and auc; mean_absolute_error and root_mean_squared_error)."),
    )
    trainer: Component = field(
        default_factory=lambda: Component("default"),
        metadata=spec("The Trainer class: 'default' (framework.Trainer) or 'package.module:Class', a subclass with its own train_step."),
    )
    training: TrainingSection = field(default_factory=TrainingSection, metadata=spec("The training section."))
    distribute: DistributeSection = field(default_factory=DistributeSection, metadata=spec("The distribution section."))
    plugins: list[Component] = field(default_factory=list, metadata=spec("Plugins, called in this order."))
    extends: str | None = field(default=None, metadata=spec("A recipe this one builds on (path relative to this file)."))
    search: dict[str, Any] | None = field(
        default=None, metadata=spec("What `tapeline tune` searches (space, metric, direction, trials; see docs/tuning.md); other commands do not read it.")
    )

    def locate(self, path: Path) -> str:
        """Where the value at `path` was written; `parse_recipe` replaces this with the file's lines."""
        return "recipe"


def _merge(base: Document, child: Document) -> Document:
    """`child` over `base`: mappings merge key by key, anything else is replaced."""

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: merge(a[k], b[k]) if k in a and k in b else b.get(k, a.get(k)) for k in {**a, **b}}
        return b

    replaced = [p for p in child.origin if not isinstance(value_at(child.data, p), dict)]
    origin = {p: w for p, w in base.origin.items() if not any(p[: len(r)] == r for r in replaced)}
    origin.update(child.origin)
    return Document(merge(base.data, child.data), origin, child.default_where, {**base.spelled, **child.spelled}, base.problems + child.problems)


def value_at(data: Any, path: Path) -> Any:
    """The value at `path` in nested mappings, lists or dataclasses."""
    for part in path:
        data = data[part] if isinstance(data, (dict, list)) else getattr(data, part)
    return data


def load_document(file: FilePath, _seen: tuple[FilePath, ...] = ()) -> Document:
    """A recipe file with its ``extends:`` chain merged in (the file's own values win)."""
    file = FilePath(file)
    resolved = file.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise RecipeError([Problem(str(file), f"`extends` forms a cycle: {chain}")])
    document = read_yaml(file)
    parent = document.data.get("extends")
    if parent is None:
        return document
    if not isinstance(parent, str):
        raise RecipeError([Problem(document.locate(("extends",)), f"`extends` must be a path to a recipe (got {quote(parent)})")])
    base_file = file.parent / parent
    if not base_file.is_file():
        raise RecipeError([Problem(document.locate(("extends",)), f"`extends` names a missing file: {str(base_file)!r}")])
    return _merge(load_document(base_file, (*_seen, resolved)), document)


def apply_overrides(document: Document, overrides: list[str]) -> list[Problem]:
    """Applies ``key.path=value`` overrides (values parsed as YAML) to `document`; returns the problems."""
    problems = []
    for text in overrides:
        key, sep, raw = text.partition("=")
        where = f"--set {text}"
        if not sep or not key:
            problems.append(Problem(where, "an override must look like `training.epochs=3`"))
            continue
        path = tuple(int(p) if p.isdigit() else p for p in key.split("."))
        try:
            value, spelled, found = read_value(raw, path, where)
        except yaml.YAMLError as error:
            problems.append(Problem(where, f"invalid YAML value {raw!r}: {error}"))
            continue
        if found:
            problems += found
            continue
        document.spelled.update(spelled)
        _default_component(document.data, path)
        failure = "`extends` cannot be overridden; edit the recipe file" if path[0] == "extends" else _set_path(document.data, path, value)
        if failure:
            problems.append(Problem(where, failure))
        else:
            document.origin = {p: w for p, w in document.origin.items() if p[: len(path)] != path}
            document.origin[path] = where
    return problems


def _default_component(data: dict[str, Any], path: Path) -> None:
    """Writes out a default component the recipe left out (``optimizer: adam``) before `path` sets
    one of its args, so that ``--set optimizer.args.learning_rate=0.01`` tunes the default optimizer."""
    defaults = {f.name: f.default_factory for f in dataclasses.fields(Recipe) if f.default_factory is not dataclasses.MISSING}
    section = path[0]
    if len(path) > 1 and path[1] != Component.SHORTHAND and data.get(section) is None and section in defaults:
        default = defaults[section]()
        if isinstance(default, Component):
            data[section] = {Component.SHORTHAND: default.name}


def _holds(data: Any, key: str | int, last: bool) -> bool:
    """Whether `key` indexes an item of the list `data`, or may name a key of the mapping `data`.

    An integer names a mapping's key when it is the last part of the path
    (``training.class_weight.3=5.0``) or the mapping's keys are integers; otherwise it is a
    list index (``metrics.5.name`` needs a fifth metric).
    """
    if isinstance(data, list):
        return isinstance(key, int) and key < len(data)
    return isinstance(data, dict) and (not isinstance(key, int) or last or (bool(data) and all(isinstance(k, int) for k in data)))


def _set_path(data: Any, path: Path, value: Any) -> str | None:
    """Sets `value` at `path` inside `data`, creating mappings on the way; returns a failure message."""
    for depth, part in enumerate(path[:-1]):
        if not _holds(data, part, last=False):
            return f"cannot set `{dotted(path)}`: `{dotted(path[: depth + 1])}` does not exist or is not a mapping/list"
        if isinstance(data, dict) and data.get(part) is None:  # missing or null: a mapping to set keys in
            data[part] = {}
        if isinstance(data[part], str):  # a component's shorthand: `model: seed_cnn`, `plugins: [console]`
            data[part] = {Component.SHORTHAND: data[part]}
        data = data[part]
    if not _holds(data, path[-1], last=True):
        return f"cannot set `{dotted(path)}`: its parent is not a mapping/list with that key"
    data[path[-1]] = value
    return None


COMPONENT_SECTIONS: dict[str, tuple[Registry, tuple[str, ...]]] = {
    "dataset": (DATASETS, DATASET_ARGS),
    "model": (MODELS, INJECTED_ARGS),
    "optimizer": (OPTIMIZERS, ()),
    "loss": (LOSSES, ("y_true", "y_pred")),  # a loss or metric function's own inputs, never recipe args
    "metrics": (METRICS, ("y_true", "y_pred")),
    "plugins": (PLUGINS, ()),
    "trainer": (TRAINERS, TRAINER_ARGS),
}
DATASET_LAYERS = ("preprocess", "augment")  # lists of PREPROCESSING layers inside the dataset section


def components(value: Any, path: Path) -> list[tuple[Path, Component]]:
    """The components in `value` (one, a list, or a mapping of either, per output name) with their paths."""
    if isinstance(value, Component):
        return [(path, value)]
    items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    return [found for key, item in items for found in components(item, (*path, key))]


def check_component(checker: Checker, registry: Registry, component: Component, path: Path, injected: tuple = ()) -> None:
    """Records a problem when `component` names nothing in `registry`, else checks and converts its args."""
    try:
        entry = registry.get(component.name)
    except RegistryError as error:
        checker.fail((*path, "name"), f"`{dotted((*path, 'name'))}`: {error}")
        return
    checked = checker.arguments(component.args, entry.target, (*path, "args"), injected)
    if checked is not INVALID:
        component.args = checked


def build_component(recipe: Recipe, registry: Registry, path: Path, **injected: Any) -> Any:
    """Calls the target named at `path` with its args plus the `injected` values it accepts
    (an injected value the recipe's args already give is left out).

    A `ValueError` or `TypeError` from the target (a bad argument value) becomes a
    `RecipeError` at the component's line.
    """
    component = value_at(recipe, path)
    target = registry.get(component.name).target
    accepted = signature_parameters(target) or {}
    try:
        return target(**component.args, **{k: v for k, v in injected.items() if k in accepted and k not in component.args})
    except (ValueError, TypeError) as error:
        where = (*path, "args")
        raise RecipeError([Problem(recipe.locate(where), f"`{dotted(where)}` of {registry.kind} {component.name!r}: {error}")]) from None


def check_sections(document: Document, checker: Checker) -> dict[str, Any]:
    """Each component section that is well-formed, with its names and args checked.

    Sections are checked one by one, so a mistake elsewhere in the recipe does not hide a
    misspelled model or plugin name: every problem is reported in one go. Sections left out
    keep their defaults, which need no check (nor Keras imported to check them).
    """
    hints = typing.get_type_hints(Recipe)
    sections = {}
    for name, (registry, injected) in COMPONENT_SECTIONS.items():
        if document.data.get(name) is None:
            continue  # the default, or a missing required section the whole-recipe check has reported
        value = Checker(document.locate, document.spelled).value(document.data[name], hints[name], (name,))
        if value is INVALID:
            continue  # the whole-recipe check has reported it
        for path, component in components(value, (name,)):
            check_component(checker, registry, component, path, injected)
        if name == "dataset":
            for path, component in components([getattr(value, key) or [] for key in DATASET_LAYERS], ()):
                check_component(checker, PREPROCESSING, component, ("dataset", DATASET_LAYERS[path[0]], path[1]))
        sections[name] = value
    return sections


def parse_recipe(document: Document, problems: list[Problem] = ()) -> Recipe:
    """A checked `Recipe` from plain data, or `RecipeError` listing every problem (`problems` first)."""
    checker = Checker(document.locate, document.spelled)
    checker.problems.extend(problems)
    recipe = checker.dataclass(document.data, Recipe, ())
    sections = check_sections(document, checker)
    if recipe is not INVALID and recipe.training.deterministic and recipe.seed is None:
        checker.fail(("training", "deterministic"), "`training.deterministic` needs a `seed` (got seed: null)")
    if checker.problems:
        raise RecipeError(checker.problems)
    recipe = dataclasses.replace(recipe, **sections)
    recipe.locate = document.locate
    return recipe


def load_recipe(file: str | FilePath, overrides: list[str] = ()) -> Recipe:
    """Reads, merges, overrides and checks a recipe file."""
    document = load_document(FilePath(file))
    return parse_recipe(document, document.problems + apply_overrides(document, list(overrides)))


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain data (``extends`` dropped: everything is inlined; ``search`` dropped: only `tapeline tune` reads it)."""
    data = dataclasses.asdict(recipe)
    data.pop("extends")
    data.pop("search")
    return data


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML text, sections in declaration order."""
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)
