"""Tests for the recipe JSON Schema written by `tapeline schema`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from framework.cli import main
from framework.recipe.json_schema import SchemaBuilder, recipe_schema

jsonschema = pytest.importorskip("jsonschema")
RECIPES = sorted(Path(__file__).parents[2].glob("recipes/*.yaml"))
GOOD = {
    "name": "x",
    "dataset": "synthetic",
    "model": {"name": "seed_cnn", "args": {"units": 8}},
    "plugins": ["console"],
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    """A draft-07 validator of the schema, which is itself checked against the draft."""
    schema = recipe_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator, data: dict) -> list[str]:
    return [error.message for error in validator.iter_errors(data)]


def test_sections_carry_types_defaults_descriptions_and_names():
    """Each field has its type, default and spec doc; closed sections; registered names as an enum."""
    recipe = recipe_schema()["definitions"]["recipe"]
    epochs = recipe["properties"]["training"]["properties"]["epochs"]
    assert epochs == {
        "type": "integer",
        "description": "Passes over the training data. Must be a positive integer.",
        "default": 5,
    }
    assert recipe["properties"]["training"]["additionalProperties"] is False
    assert recipe["required"] == ["name", "dataset", "model"]
    name, section = recipe["properties"]["optimizer"]["anyOf"]
    assert "adam" in name["anyOf"][0]["enum"] and name["anyOf"][1]["pattern"] == r"^([\w.]+|.+\.py):[\w.]+$"
    assert section["properties"]["args"]["type"] == "object"
    assert recipe["properties"]["distribute"]["properties"]["communication"]["enum"] == ["auto", "ring", "nccl"]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_validate(validator, recipe):
    """Every recipe in recipes/ (those with `extends:` included) is valid under the schema."""
    assert errors(validator, yaml.safe_load(recipe.read_text())) == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"training": {"epoch": 3}}, "Additional properties are not allowed ('epoch' was unexpected)"),
        ({"training": {"batch_size": "two"}}, "'two' is not of type 'integer'"),
        ({"model": "seed_cn"}, "'seed_cn' is not valid under any of the given schemas"),
        ({"name": None}, "None is not of type 'string'"),
        ({"training": {"class_weight": {"0": "heavy"}}}, "{'0': 'heavy'} is not valid under any of the given schemas"),
        ({"training": {"class_weight": {"first": 2.0}}}, "{'first': 2.0} is not valid under any of the given schemas"),
    ],
)
def test_mistakes_fail_the_schema(validator, change, message):
    """Unknown keys, wrong types and unknown names are schema errors."""
    assert message in errors(validator, {**GOOD, **change})


def test_class_weight_takes_class_ids(validator):
    """`training.class_weight` takes class ids (as JSON's string keys) mapped to numbers."""
    assert errors(validator, {**GOOD, "training": {"class_weight": {"0": 1.0, "3": 5}}}) == []


def test_import_paths_and_extends(validator):
    """`module:attribute` names are allowed; with `extends:` nothing is required."""
    assert errors(validator, {**GOOD, "model": "nets:small_cnn", "plugins": [{"name": "stop_at:StopAt"}]}) == []
    assert errors(validator, {"extends": "mnist.yaml", "dataset": {"validation_split": 0.1}}) == []
    assert "'name' is a required property" in errors(validator, {"dataset": "mnist", "model": "mlp"})


def test_unsupported_field_type_is_named():
    """A field type with no JSON Schema equivalent is a TypeError naming it."""
    with pytest.raises(TypeError, match="no JSON Schema for the recipe field type <class 'complex'>"):
        SchemaBuilder({}, required=True).type(complex)


def test_schema_command_writes_the_file(tmp_path, capsys):
    """`tapeline schema --output FILE` writes the JSON and says how to use it; without it, stdout."""
    assert main(["schema", "--output", str(tmp_path / "tapeline.schema.json")]) == 0
    assert "# yaml-language-server: $schema=" in capsys.readouterr().out
    assert json.loads((tmp_path / "tapeline.schema.json").read_text()) == recipe_schema()
    assert main(["schema"]) == 0 and json.loads(capsys.readouterr().out) == recipe_schema()
