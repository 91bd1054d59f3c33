"""The JSON Schema of recipes, for editors with a YAML language server (completion, hover docs, checks).

Built from the `Recipe` dataclasses: each field's type, default and ``spec`` documentation;
nested sections are objects that allow no other keys; a ``{name, args}`` section may also be
written as its name; names are the registered ones (an ``enum``, for completion) or a
``package.module:attribute`` path. A recipe with ``extends:`` gets the same schema with
nothing required, since its base supplies the rest. Value ranges (positive integers ...) and
``args`` are checked by ``tapeline`` itself, not by the schema. The ``search:`` section that
`tapeline tune` reads is included. Listing the Keras optimizers, losses and metrics imports Keras.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from framework.recipe.components import COMPONENT_SECTIONS, DATASET_LAYERS
from framework.recipe.registry import PREPROCESSING
from framework.recipe.schema import describe, written_fields
from framework.recipe.search_space import SEARCH, SearchSection
from framework.recipe.sections import Recipe

DRAFT = "http://json-schema.org/draft-07/schema#"
IMPORT_PATH = r"^([\w.]+|.+\.py):[\w.]+$"
SCALARS = {int: "integer", float: "number", bool: "boolean", str: "string"}


def recipe_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of a recipe file, with the names registered now."""
    names = {section: registry.names() for section, (registry, _) in COMPONENT_SECTIONS.items()}
    names |= {f"DatasetSection.{key}": PREPROCESSING.names() for key in DATASET_LAYERS}
    return {
        "$schema": DRAFT,
        "title": "Tapeline recipe",
        "description": typing.cast(str, Recipe.__doc__),
        "definitions": {
            "recipe": with_search(SchemaBuilder(names, required=True)),
            "extending": with_search(SchemaBuilder(names, required=False)),
        },
        "if": {"required": ["extends"]},
        "then": {"$ref": "#/definitions/extending"},
        "else": {"$ref": "#/definitions/recipe"},
    }


def with_search(builder: SchemaBuilder) -> dict[str, Any]:
    """The recipe's schema with the ``search:`` section that `tapeline tune` reads (see framework/search_space.py)."""
    schema = builder.dataclass(Recipe)
    schema["properties"][SEARCH] = {
        **builder.dataclass(SearchSection),
        "description": "What `tapeline tune` searches (docs/tuning.md); other commands do not read it.",
    }
    return schema


def schema_text() -> str:
    """`recipe_schema` as indented JSON text."""
    return json.dumps(recipe_schema(), indent=2) + "\n"


@dataclasses.dataclass
class SchemaBuilder:
    """Turns dataclasses and type hints into JSON Schema; `names` are the registered names per
    section (``model``), or per field of a section (``DatasetSection.preprocess``)."""

    names: Mapping[str, Sequence[str]]
    required: bool

    def dataclass(self, cls: type, names: Sequence[str] | None = None) -> dict[str, Any]:
        """An object with one property per field; a `Component` (``SHORTHAND``) may also be its name."""
        hints = typing.get_type_hints(cls)
        properties = {}
        for fld in written_fields(cls):
            section_names = self.names.get(fld.name if cls is Recipe else f"{cls.__name__}.{fld.name}", names)
            is_name = fld.name == getattr(cls, "SHORTHAND", None)
            schema = (
                self.name(section_names) if is_name and section_names else self.type(hints[fld.name], section_names)
            )
            properties[fld.name] = {**schema, **field_documentation(fld, hints[fld.name])}
        schema = {
            "type": "object",
            "description": cls.__doc__ or "",
            "properties": properties,
            "additionalProperties": False,
        }
        required = [f.name for f in written_fields(cls) if not has_default(f)]
        if required and self.required:
            schema["required"] = required
        shorthand = getattr(cls, "SHORTHAND", None)
        if shorthand:
            return {"anyOf": [properties[shorthand], schema]}
        return schema

    def name(self, names: Sequence[str]) -> dict[str, Any]:
        """A registered name or a ``package.module:attribute`` path."""
        return {"anyOf": [{"enum": list(names)}, {"type": "string", "pattern": IMPORT_PATH}]}

    def type(self, tp: Any, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The schema of type hint `tp` (`names` go to the `Component` sections inside it)."""
        origin, targs = typing.get_origin(tp), typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp, names)
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.type(a, names) for a in targs]}
        if origin is Literal:
            return {"enum": list(targs)}
        if origin in (list, tuple, Sequence):
            return {"type": "array", "items": self.type(targs[0], names)} if targs else {"type": "array"}
        if origin in (dict, Mapping) or tp is dict:
            return self.mapping(targs)
        if tp is type(None):
            return {"type": "null"}
        if tp in SCALARS:
            return {"type": SCALARS[tp]}
        raise TypeError(f"no JSON Schema for the recipe field type {tp!r}")

    def mapping(self, targs: tuple) -> dict[str, Any]:
        """An object; with typed keys and values (``dict[int, float]``), their schemas (JSON keys are strings)."""
        if not targs or targs[1] is Any:
            return {"type": "object"}
        keys = {"pattern": r"^[0-9]+$"} if targs[0] is int else {}
        return {"type": "object", "propertyNames": keys, "additionalProperties": self.type(targs[1])}


def has_default(fld: dataclasses.Field) -> bool:
    """Whether a dataclass field may be left out."""
    return fld.default is not dataclasses.MISSING or fld.default_factory is not dataclasses.MISSING


def field_documentation(fld: dataclasses.Field, tp: Any) -> dict[str, Any]:
    """``description`` (the field's ``spec`` doc and expected value) and ``default``, as plain data."""
    doc, expect = fld.metadata.get("doc", ""), fld.metadata.get("expect")
    documentation: dict[str, Any] = {"description": f"{doc} Must be {expect or describe(tp)}."}
    if has_default(fld):
        default = fld.default if fld.default is not dataclasses.MISSING else fld.default_factory()
        documentation["default"] = plain(default)
    return documentation


def plain(value: Any) -> Any:
    """Dataclasses (and lists of them) as dicts, for JSON."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return [plain(v) for v in value] if isinstance(value, list) else value
