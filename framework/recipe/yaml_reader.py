"""Reading recipe YAML as plain data, with the file and line of every value.

PyYAML implements YAML 1.1, whose rules trip people up every day. `RecipeLoader` reads numbers
as YAML 1.2 does (the YAML 1.2.2 spec, 10.3.2 "Tag Resolution" of the core schema): `1e-3`
and `1E5` are floats, not the strings YAML 1.1 makes of them. YAML 1.1 booleans written as
words (`yes`, `no`, `on`, `off`, `y`, `n`) stay booleans, but the words are remembered so that
a message about a boolean found where a string belongs can say what YAML did and how to quote
it. Merge keys (`<<: *defaults`) work as the YAML merge-key spec (yaml.org/type/merge.html)
defines them: explicit keys override merged ones, and earlier merged mappings win over later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from framework.errors import Problem, RecipeError
from framework.recipe.schema import Path, dotted, quote, yaml11_hint

MAX_RECIPE_BYTES = 1_000_000
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 50
FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"
BOOL_WORDS = ("true", "false")  # the only booleans in YAML 1.2


# YAML 1.2 core-schema floats (exponents need no dot), plus YAML 1.1's `_` separators and
# sexagesimal numbers that PyYAML's own resolver accepts.
YAML12_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats: ``1e-3`` is the number 0.001."""


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


RecipeLoader.add_implicit_resolver(FLOAT_TAG, YAML12_FLOAT, list("-+0123456789."))


def read_value(text: str, path: Path, where: str) -> tuple[Any, dict[Path, str], list[Problem]]:
    """A ``--set`` value for `path`, read like recipe files are: the value, its YAML 1.1 boolean
    words by path (see `Document.spelled`), and its problems (all at `where`).

    Raises `yaml.YAMLError` for invalid YAML.
    """
    node = yaml.compose(text, Loader=RecipeLoader)
    if node is None:
        return None, {}, []
    reader = _Reader(where)
    value = reader.read(node, path)
    return value, reader.spelled, [Problem(where, p.message) for p in reader.problems]


@dataclass
class Document:
    """Plain data read from YAML, with the location each value came from.

    `spelled` maps the path of each boolean written as a YAML 1.1 word (``on``, ``yes`` ...)
    to that word, for messages. `problems` are those found while reading (keys that are not
    strings, duplicate keys, tags): the value concerned is left out and the rest checked, so
    that they are reported with every other problem of the recipe.
    """

    data: dict[str, Any]
    origin: dict[Path, str]
    default_where: str
    spelled: dict[Path, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def locate(self, path: Path) -> str:
        """``file:line`` (or ``--set ...``) of `path`, or of its closest ancestor that has one."""
        while path not in self.origin and path:
            path = path[:-1]
        return self.origin.get(path, self.default_where)


class _Reader:
    """Turns a YAML node tree into plain data, recording each value's line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.origin: dict[Path, str] = {}
        self.spelled: dict[Path, str] = {}
        self.problems: list[Problem] = []
        self.nodes = 0
        self.constructor = RecipeLoader("")

    def where(self, node: yaml.Node) -> str:
        return f"{self.file}:{node.start_mark.line + 1}"

    def fail(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.where(node), message))

    def count(self, node: yaml.Node, path: Path) -> None:
        """Counts a node read (aliases and merge keys included) against the limits on size and depth."""
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES or len(path) > MAX_YAML_DEPTH:
            raise RecipeError(
                [
                    Problem(
                        self.where(node), "recipe is too large or too deeply nested (aliases and merge keys included)"
                    )
                ]
            )

    def read(self, node: yaml.Node, path: Path) -> Any:
        self.count(node, path)
        self.origin.setdefault(path, self.where(node))
        if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
            return [self.read(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            if isinstance(node, yaml.ScalarNode):
                return self.scalar(node, path)
        except yaml.constructor.ConstructorError:
            pass
        self.fail(
            node, f"`{dotted(path) or 'recipe'}`: YAML tag {node.tag!r} is not allowed; recipes hold plain data only"
        )
        return None

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        value = self.constructor.construct_object(node)
        if isinstance(value, bool) and node.value.lower() not in BOOL_WORDS:
            self.spelled[path] = node.value
        return value

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str | int, Any]:
        """The mapping's own keys over those merged in by ``<<:`` (of which earlier mappings win)."""
        merges = [value for key, value in node.value if key.tag == MERGE_TAG]
        result: dict[str | int, Any] = {}
        for source in reversed([m for value in merges for m in self.merge_sources(value, path)]):
            self.count(source, path)
            result.update(self.mapping(source, path))
        explicit: set[str | int] = set()
        for key_node, value_node in node.value:
            key = None if key_node.tag == MERGE_TAG else self.key(key_node, path)
            if key is None:
                continue
            if key in explicit:
                self.fail(key_node, f"duplicate key `{dotted((*path, key))}`")
                continue
            explicit.add(key)
            self.origin[(*path, key)] = self.where(key_node)
            result[key] = self.read(value_node, (*path, key))
        return result

    def merge_sources(self, node: yaml.Node, path: Path) -> list[yaml.MappingNode]:
        """The mappings a ``<<:`` value names: one mapping or a list of them."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if all(isinstance(s, yaml.MappingNode) for s in sources):
            return sources
        self.fail(
            node,
            f"`{dotted(path) or 'recipe'}`: a merge key `<<` takes a mapping or a list of mappings (like `<<: "
            "*defaults`)",
        )
        return []

    def key(self, node: yaml.Node, path: Path) -> str | int | None:
        """A mapping key: a string, or an integer (class ids in ``class_weight``); else a problem and `None`."""
        key = self.scalar(node, path) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(key, bool) and node.value.lower() not in BOOL_WORDS:
            self.fail(node, f"key {node.value!r} in `{dotted(path) or 'recipe'}`: {yaml11_hint(node.value, key)}")
        elif isinstance(key, bool) or not isinstance(key, (str, int)):
            self.fail(node, f"keys must be strings or integers (got {quote(key)} in `{dotted(path) or 'recipe'}`)")
        else:
            return key
        return None


def read_yaml(file: FilePath) -> Document:
    """The plain data of one YAML file, or `RecipeError` for unreadable, invalid or hostile YAML."""
    try:
        if file.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError([Problem(str(file), f"recipe is larger than {MAX_RECIPE_BYTES:,} bytes")])
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError([Problem(str(file), f"cannot read recipe: {error}")]) from None
    reader = _Reader(str(file))
    try:
        root = yaml.compose(text, Loader=RecipeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise RecipeError([Problem(f"{file}{line}", f"invalid YAML: {error.problem or error.context}")]) from None
    except RecursionError:
        raise RecipeError([Problem(str(file), "invalid YAML: nested too deeply")]) from None
    except yaml.YAMLError as error:
        raise RecipeError([Problem(str(file), f"invalid YAML: {error}")]) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise RecipeError(
            [Problem(str(file), "a recipe must be a YAML mapping of sections (name:, dataset:, model: ...)")]
        )
    try:
        data = reader.read(root, ())
    except RecursionError:  # merge keys chained thousands deep
        raise RecipeError([Problem(str(file), "recipe is nested too deeply (merge keys included)")]) from None
    return Document(data, reader.origin, str(file), reader.spelled, reader.problems)
