"""Tests for reading recipe YAML: YAML 1.2 numbers, YAML 1.1 booleans, merge keys and keys."""

from __future__ import annotations

import pytest

from framework.errors import RecipeError
from framework.recipe.loader import load_recipe

BASE = """\
name: x
dataset: synthetic
model: mlp
"""


def problems_of(path, overrides: list[str] = ()) -> str:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, overrides)
    return str(caught.value)


@pytest.mark.parametrize(
    "arg, text, value",
    [
        ("learning_rate", "1e-3", 0.001),
        ("epsilon", "1E-7", 1e-7),
        ("weight_decay", "+4e-3", 0.004),
        ("learning_rate", ".5e-2", 0.005),
    ],
)
def test_scientific_notation_without_a_dot_is_a_number(write_recipe, arg, text, value):
    """`1e-3` is a float as in YAML 1.2 (PyYAML's YAML 1.1 makes it a string), in files and in --set."""
    recipe = load_recipe(write_recipe(BASE + f"optimizer: {{name: adamw, args: {{{arg}: {text}}}}}\n"))
    assert recipe.optimizer.args[arg] == value and isinstance(recipe.optimizer.args[arg], float)
    overridden = load_recipe(write_recipe(BASE), [f"optimizer.args.{arg}={text}", "optimizer.name=adamw"])
    assert overridden.optimizer.args[arg] == value


def test_typed_plugin_argument_in_scientific_notation(write_recipe):
    """A typed plugin argument (early_stopping.min_delta: float) takes `1e-4`."""
    recipe = load_recipe(
        write_recipe(BASE + "plugins: [{name: early_stopping, args: {monitor: loss, min_delta: 1e-4}}]\n")
    )
    assert recipe.plugins[0].args["min_delta"] == 1e-4


def test_quoted_numbers_are_reported_as_strings_in_the_first_pass(write_recipe):
    """Quoted numbers in typed places and in Keras's own arguments are all reported at once, each saying it is a
    string."""
    text = (
        BASE + "seed: '1042'\noptimizer: {name: adam, args: {learning_rate: '0.001', weight_decay: '1e-4'}}\ntraining: "
        "{epochs: '2'}\n"
    )
    message = problems_of(write_recipe(text))
    assert "(4 problems)" in message
    assert (
        "recipe.yaml:4: `seed` must be an integer from 0 to 4294967295 or null (got '1042', a string: write numbers "
        "without quotes)" in message
    )
    assert (
        "recipe.yaml:5: `optimizer.args.learning_rate` must be a number (got '0.001', a string: write numbers without "
        "quotes)" in message
    )
    assert "recipe.yaml:5: `optimizer.args.weight_decay` is the string '1e-4'; write numbers without quotes" in message
    assert "recipe.yaml:6: `training.epochs` must be a positive integer (got '2', a string" in message


def test_keras_arguments_are_checked_against_their_defaults(write_recipe):
    """Unannotated Keras arguments take the type of their default: a number, or true/false."""
    text = (
        BASE
        + "loss: {name: sparse_categorical_crossentropy, args: {from_logits: maybe}}\noptimizer: {name: sgd, args: "
        "{momentum: fast}}\n"
    )
    message = problems_of(write_recipe(text))
    assert "`loss.args.from_logits` must be true or false (got 'maybe')" in message
    assert "`optimizer.args.momentum` must be a number (got 'fast')" in message


def test_yaml11_booleans_where_a_string_belongs_say_how_to_quote(write_recipe):
    """`off`/`yes` read as booleans get one message saying what YAML did, in files and overrides; as booleans they
    work."""
    text = BASE + "training: {shuffle: yes}\nplugins: [{name: console, args: {mode: off}}]\n"
    message = problems_of(write_recipe(text))
    assert (
        "recipe.yaml:5: `plugins[0].args.mode` must be one of 'auto', 'progress', 'lines', 'quiet' (got false: YAML "
        "reads the unquoted word 'off' as false; write it in quotes ('off') for the string)" in message
    )
    message = problems_of(write_recipe(BASE), ["plugins=[{name: early_stopping, args: {monitor: on}}]"])
    assert (
        "`plugins[0].args.monitor` must be a string (got true: YAML reads the unquoted word 'on' as true; write it in "
        "quotes ('on')" in message
    )
    assert load_recipe(write_recipe(BASE + "training: {shuffle: no}\n")).training.shuffle is False


def test_yaml11_boolean_keys_say_how_to_quote(write_recipe):
    """A key written `on:` becomes `true` in YAML 1.1; the message says so."""
    message = problems_of(write_recipe(BASE + "on: 3\n"))
    assert (
        "recipe.yaml:4: key 'on' in `recipe`: YAML reads the unquoted word 'on' as true; write it in quotes ('on') "
        "for the string" in message
    )


MERGE = (
    BASE
    + """\
plugins:
  - name: checkpoint
    args: &watch {monitor: val_loss, mode: min}
  - name: early_stopping
    args:
      <<: *watch
      monitor: val_accuracy
      mode: max
      patience: 2
"""
)


def test_merge_key_with_overrides(write_recipe):
    """Explicit keys next to `<<:` override the merged ones, as the YAML merge-key spec says."""
    recipe = load_recipe(write_recipe(MERGE))
    assert recipe.plugins[1].args == {"monitor": "val_accuracy", "mode": "max", "patience": 2}
    assert recipe.plugins[0].args == {"monitor": "val_loss", "mode": "min"}


def test_merge_of_several_mappings_and_shared_aliases(write_recipe):
    """Earlier mappings in a merge list win (PyYAML's own loader gets this wrong); a merging mapping used twice by alias
    reads the same."""
    text = (
        BASE
        + """\
defaults: &d {patience: 1, mode: min}
more: &m {patience: 5, monitor: loss}
both: &both
  <<: [*d, *m]
  min_delta: 0.5
"""
    )
    document_text = text.replace("defaults:", "x-defaults:").replace("more:", "x-more:").replace("both:", "x-both:")
    plugins = "plugins: [{name: early_stopping, args: *both}, {name: early_stopping, args: *both}]\n"
    from framework.recipe.yaml_reader import read_yaml

    data = read_yaml(write_recipe(document_text + plugins)).data
    expected = {"patience": 1, "mode": "min", "monitor": "loss", "min_delta": 0.5}
    assert data["plugins"][0]["args"] == expected and data["plugins"][1]["args"] == expected


def test_real_duplicate_keys_are_refused(write_recipe):
    """A key written twice in one mapping is an error, also next to a merge key."""
    assert "recipe.yaml:6: duplicate key `training.epochs`" in problems_of(
        write_recipe(BASE + "training:\n  epochs: 1\n  epochs: 3\n")
    )
    doubled = MERGE.replace("      patience: 2\n", "      patience: 2\n      mode: min\n")
    assert "recipe.yaml:13: duplicate key `plugins[1].args.mode`" in problems_of(write_recipe(doubled))


def test_keys_must_be_strings_or_integers(write_recipe):
    """Null or float keys are refused with the value and where."""
    assert "keys must be strings or integers (got 1.5 in `training`)" in problems_of(
        write_recipe(BASE + "training: {1.5: x}\n")
    )


def test_merge_key_needs_mappings(write_recipe):
    """`<<:` with a scalar is a message, not a traceback."""
    assert "recipe.yaml:4: `training`: a merge key `<<` takes a mapping or a list of mappings" in problems_of(
        write_recipe(BASE + "training: {<<: 3}\n")
    )


def test_merge_keys_count_against_the_size_limit(write_recipe):
    """Empty mappings merged ten at a time over many levels stop at the node limit, not after 10**9 merges."""
    lines = [BASE, "x: [&e0 {}]\n"]
    for level in range(1, 10):
        lines.append(f"x{level}: [&e{level} {{<<: [{', '.join([f'*e{level - 1}'] * 10)}]}}]\n")
    assert "recipe is too large or too deeply nested (aliases and merge keys included)" in problems_of(
        write_recipe("".join(lines))
    )


def test_merge_keys_chained_too_deep_are_a_message(write_recipe):
    """A merge chain thousands deep is refused with a message, not a RecursionError."""
    lines = [BASE, "x0: &e0 {a: 1}\n"] + [f"x{i}: &e{i} {{<<: *e{i - 1}}}\n" for i in range(1, 3000)]
    assert "recipe is too large or too deeply nested (aliases and merge keys included)" in problems_of(
        write_recipe("".join(lines))
    )


def test_reading_problems_come_with_every_other_problem(write_recipe):
    """A key YAML made a boolean and a wrong type elsewhere are reported together."""
    message = problems_of(write_recipe(BASE + "training: {on: 3, epochs: five}\n"))
    assert (
        "(2 problems)" in message
        and "key 'on' in `training`" in message
        and "`training.epochs` must be a positive integer (got 'five')" in message
    )
