"""Recipe components: the parts of a recipe chosen by name (dataset, model, optimizer, loss, metrics, plugins, trainer),
checked against their registries and called with their args."""

from __future__ import annotations

import typing
from typing import Any

from framework.errors import Problem, RecipeError, RegistryError
from framework.recipe.paths import origin_folder, resolve_module_file
from framework.recipe.registry import (
    DATASETS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    PLUGINS,
    PREPROCESSING,
    TRAINERS,
    Registry,
)
from framework.recipe.schema import (
    INVALID,
    Checker,
    Path,
    dotted,
    value_at,
)
from framework.recipe.sections import (
    DATASET_ARGS,
    INJECTED_ARGS,
    TRAINER_ARGS,
    Component,
    Recipe,
)
from framework.recipe.signatures import signature_parameters
from framework.recipe.yaml_reader import Document


def recipe_error(recipe: Recipe, path: Path, message: str) -> RecipeError:
    """A one-problem `RecipeError` at the line of `path`."""
    return RecipeError([Problem(recipe.locate(path), message)])


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


def check_component(
    checker: Checker, registry: Registry, component: Component, path: Path, injected: tuple = ()
) -> None:
    """Records a problem when `component` names nothing in `registry`, else checks and converts its args.

    A name pointing into a Python file (``nets/mine.py:build``) is made absolute against the
    folder of the recipe that writes it.
    """
    component.name = resolve_module_file(component.name, origin_folder(checker.locate((*path, "name"))))
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
        return target(
            **component.args, **{k: v for k, v in injected.items() if k in accepted and k not in component.args}
        )
    except (ValueError, TypeError) as error:
        where = (*path, "args")
        raise RecipeError(
            [Problem(recipe.locate(where), f"`{dotted(where)}` of {registry.kind} {component.name!r}: {error}")]
        ) from None


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
