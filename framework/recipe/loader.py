"""Recipes: YAML files that choose the dataset, model, optimizer, loss, training settings and plugins.

`load_recipe` reads a recipe with a safe YAML loader, applies ``extends:`` and ``--set``
overrides, and checks everything (types, ranges, names, args) before anything is built. All
problems are raised together as one `RecipeError`, each with its file and line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

import yaml

from framework.errors import Problem, RecipeError
from framework.recipe.components import check_sections
from framework.recipe.distribute_section import launcher_problems
from framework.recipe.schema import (
    INVALID,
    Checker,
    Origins,
    Path,
    dotted,
    quote,
    written_fields,
)
from framework.recipe.sections import Component, Recipe
from framework.recipe.yaml_reader import Document, read_value, read_yaml


def _merge(base: Document, child: Document) -> Document:
    """`child` over `base`: mappings merge key by key, anything else is replaced.

    A component the child renames (``model: {name: other_net}`` over ``seed_cnn``) keeps none of
    the parent's ``args``: they were written for the other component.
    """
    replaced: list[Path] = []  # paths whose base values the child drops

    def merge(a: Any, b: Any, path: Path) -> Any:
        if not (isinstance(a, dict) and isinstance(b, dict)):
            replaced.append(path)
            return b
        renamed = "name" in a and "name" in b and a["name"] != b["name"]
        if renamed and "args" in a:
            a = {k: v for k, v in a.items() if k != "args"}
            replaced.append((*path, "args"))
        return {k: merge(a[k], b[k], (*path, k)) if k in a and k in b else b.get(k, a.get(k)) for k in {**a, **b}}

    data = merge(base.data, child.data, ())
    origin = {p: w for p, w in base.origin.items() if not any(p[: len(r)] == r for r in replaced)}
    origin.update(child.origin)
    spelled = {**base.spelled, **child.spelled}
    return Document(data, origin, child.default_where, spelled, base.problems + child.problems)


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
        raise RecipeError(
            [Problem(document.locate(("extends",)), f"`extends` must be a path to a recipe (got {quote(parent)})")]
        )
    base_file = file.parent / parent
    if not base_file.is_file():
        raise RecipeError(
            [Problem(document.locate(("extends",)), f"`extends` names a missing file: {str(base_file)!r}")]
        )
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
        failure = (
            "`extends` cannot be overridden; edit the recipe file"
            if path[0] == "extends"
            else _set_path(document.data, path, value)
        )
        if failure:
            problems.append(Problem(where, failure))
        else:
            document.origin = {p: w for p, w in document.origin.items() if p[: len(path)] != path}
            document.origin[path] = where
    return problems


def _default_component(data: dict[str, Any], path: Path) -> None:
    """Writes out a default component the recipe left out (``optimizer: adam``) before `path` sets
    one of its args, so that ``--set optimizer.args.learning_rate=0.01`` tunes the default optimizer."""
    defaults = {
        f.name: f.default_factory for f in dataclasses.fields(Recipe) if f.default_factory is not dataclasses.MISSING
    }
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
    return isinstance(data, dict) and (
        not isinstance(key, int) or last or (bool(data) and all(isinstance(k, int) for k in data))
    )


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


def parse_recipe(document: Document, problems: list[Problem] = (), *, paths_exist: bool = True) -> Recipe:
    """A checked `Recipe` from plain data, or `RecipeError` listing every problem (`problems` first);
    data paths must name something unless `paths_exist` is false."""
    checker = Checker(document.locate, document.spelled, paths_exist=paths_exist)
    checker.problems.extend(problems)
    recipe = checker.dataclass(document.data, Recipe, ())
    sections = check_sections(document, checker)
    if recipe is not INVALID and recipe.training.deterministic and recipe.seed is None:
        checker.fail(("training", "deterministic"), "`training.deterministic` needs a `seed` (got seed: null)")
    if recipe is not INVALID and recipe.training.phases:
        recipe = phased(recipe, document, checker)
    for where, message in launcher_problems(recipe.distribute) if recipe is not INVALID else ():
        checker.fail(where, message)
    if checker.problems:
        raise RecipeError(checker.problems)
    return dataclasses.replace(recipe, **sections, origins=Origins(dict(document.origin), document.default_where))


def phased(recipe: Recipe, document: Document, checker: Checker) -> Recipe:
    """`recipe` with `training.epochs` the sum of its phases' epochs; a problem when the recipe gives another."""
    total = sum(phase.epochs for phase in recipe.training.phases)
    if ("training", "epochs") in document.origin and recipe.training.epochs != total:
        checker.fail(
            ("training", "epochs"),
            f"`training.epochs` must be the sum of `training.phases`' epochs, {total}, or left out "
            f"(got {recipe.training.epochs})",
        )
    return dataclasses.replace(recipe, training=dataclasses.replace(recipe.training, epochs=total))


def load_recipe(file: str | FilePath, overrides: list[str] = (), *, paths_exist: bool = True) -> Recipe:
    """Reads, merges, overrides and checks a recipe file.

    Args:
        file: the recipe's YAML file; ``extends:`` paths are relative to it.
        overrides: ``key.path=value`` settings (values read as YAML), as ``--set`` gives them.
        paths_exist: whether data paths (relative ones read against the recipe's folder) must
            name existing files; false for a finished run's recipe, which inference reads
            without the training data.

    Returns:
        The checked `Recipe`, which knows the file and line of each of its values.

    Raises:
        RecipeError: every problem of the file and the overrides at once, each at its line.
    """
    document = load_document(FilePath(file))
    problems = document.problems + apply_overrides(document, list(overrides))
    return parse_recipe(document, problems, paths_exist=paths_exist)


def plain(value: Any) -> Any:
    """`value` as plain data: dataclasses (sections, components) as dicts, lists and dicts item by item."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain data (``extends`` dropped: everything is inlined; ``search`` dropped: only `tapeline
    tune` reads it)."""
    return {
        f.name: plain(getattr(recipe, f.name)) for f in written_fields(Recipe) if f.name not in ("extends", "search")
    }


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML text, sections in declaration order."""
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)


Scalar = bool | int | float | str


def flatten(data: Any, prefix: str = "") -> dict[str, Scalar]:
    """`data`'s leaves by dotted key, lists indexed as ``--set`` writes them (``plugins.0.args.every``).

    Numbers, booleans and strings stay as they are; any other leaf becomes its `str`. Nulls,
    empty mappings and empty lists have no leaf and are left out.
    """
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = enumerate(data)
    elif data is None:
        return {}
    else:
        return {prefix: data if isinstance(data, (bool, int, float, str)) else str(data)}
    flat: dict[str, Scalar] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def recipe_params(recipe: Recipe) -> dict[str, Scalar]:
    """The resolved recipe as flat parameters: ``{"training.epochs": 5, "model.name": "seed_cnn", ...}``."""
    return flatten(recipe_to_dict(recipe))
