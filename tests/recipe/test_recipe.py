"""Tests for reading, merging, overriding and checking recipes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from framework.errors import RecipeError
from framework.recipe.loader import load_recipe, recipe_to_yaml

GOOD = """\
name: good
dataset: synthetic
model: seed_cnn
"""


def problems_of(path: Path, overrides: list[str] = ()) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, overrides)
    return [str(p) for p in caught.value.problems]


def test_minimal_recipe_gets_defaults(write_recipe):
    """Shorthand names become components; unset sections take the tutorial's defaults, loss and metrics the task's."""
    recipe = load_recipe(write_recipe(GOOD))
    assert recipe.model.name == "seed_cnn" and recipe.model.args == {}
    assert recipe.optimizer.name == "adam" and recipe.trainer.name == "default"
    assert (recipe.training.epochs, recipe.training.batch_size) == (5, 32)
    assert (recipe.task, recipe.loss, recipe.metrics, recipe.dataset.preprocess, recipe.dataset.augment) == (
        "auto",
        None,
        None,
        None,
        [],
    )


def test_shipped_recipes_load():
    """Both shipped recipes are valid and describe the tutorial."""
    for file in ("recipes/mnist.yaml", "recipes/fashion_mnist.yaml"):
        recipe = load_recipe(Path(__file__).parents[2] / file)
        assert recipe.model.name == "seed_cnn" and recipe.training.batch_size == 32 and recipe.training.epochs == 5
    assert recipe.dataset.name == "fashion_mnist"


BROKEN = {
    "unknown key": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining:\n  epoch: 3\n",
        r"recipe.yaml:5: unknown key `training.epoch`; allowed: epochs, .*; did you mean 'epochs'\?",
    ),
    "wrong type": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining:\n  epochs: five\n",
        r"recipe.yaml:5: `training.epochs` must be a positive integer \(got 'five'\)",
    ),
    "negative epochs": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {epochs: -2}\n",
        r"recipe.yaml:4: `training.epochs` must be a positive integer \(got -2\)",
    ),
    "zero eval batch": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {eval_batch_size: 0}\n",
        r"recipe.yaml:4: `training.eval_batch_size` must be a positive integer or null \(got 0\)",
    ),
    "bad checkpoint interval": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {checkpoint_every: 1.5 steps}\n",
        r"recipe.yaml:4: `training.checkpoint_every` must be a positive integer of steps, 'N steps', 'M minutes' or "
        r"null \(got '1.5 steps'\)",
    ),
    "bad model name": (
        "name: x\ndataset: synthetic\nmodel: seed_cn\n",
        r"recipe.yaml:3: `model.name`: unknown model 'seed_cn'; registered: backbone, fast_cnn, mlp, seed_cnn .*"
        r"did you mean 'seed_cnn'\?",
    ),
    "bad dataset name": (
        "name: x\ndataset: {name: fashion}\nmodel: seed_cnn\n",
        r"recipe.yaml:2: `dataset.name`: unknown dataset 'fashion'; registered: .*did you mean 'fashion_mnist'\?",
    ),
    "bad optimizer": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\noptimizer: adamm\n",
        r"recipe.yaml:4: `optimizer.name`: unknown optimizer 'adamm'; registered: adadelta, .*did you mean 'adam'\?",
    ),
    "bad optimizer arg": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\noptimizer:\n  name: adam\n  args: {learning_rat: 0.1}\n",
        r"recipe.yaml:6: unknown key `optimizer.args.learning_rat`; allowed: learning_rate, .*did you mean "
        r"'learning_rate'\?",
    ),
    "bad model arg type": (
        "name: x\ndataset: synthetic\nmodel:\n  name: seed_cnn\n  args:\n    units: lots\n",
        r"recipe.yaml:6: `model.args.units` must be an integer \(got 'lots'\)",
    ),
    "model arg taken from the dataset": (
        "name: x\ndataset: synthetic\nmodel: {name: seed_cnn, args: {num_classes: 3}}\n",
        r"recipe.yaml:3: unknown key `model.args.num_classes`; allowed: filters, kernel_size, units, activation",
    ),
    "bad YAML syntax": (
        "name: x\ndataset: [synthetic\nmodel: seed_cnn\n",
        r"recipe.yaml:3: invalid YAML: ",
    ),
    "missing required section": (
        "name: x\ndataset: synthetic\n",
        r"recipe.yaml:1: missing required key `model`",
    ),
    "unknown plugin": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\nplugins: [consle]\n",
        r"recipe.yaml:4: `plugins\[0\].name`: unknown plugin 'consle'; .*did you mean 'console'\?",
    ),
    "python tag": (
        "name: !!python/object/apply:os.system ['echo hi']\ndataset: synthetic\nmodel: seed_cnn\n",
        r"recipe.yaml:1: `name`: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    "duplicate key": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\nname: y\n",
        r"recipe.yaml:4: duplicate key `name`",
    ),
    "validation split out of range": (
        "name: x\ndataset: {name: synthetic, validation_split: 1.5}\nmodel: seed_cnn\n",
        r"recipe.yaml:2: `dataset.validation_split` must be a number from 0 up to \(not including\) 1 \(got 1.5\)",
    ),
    "bad precision": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {precision: float16}\n",
        r"recipe.yaml:4: `training.precision` must be one of 'auto', 'float32', 'mixed_float16', 'mixed_bfloat16' "
        r"\(got 'float16'\)",
    ),
    "bad jit_compile": (
        "name: x\ndataset: synthetic\nmodel: seed_cnn\ntraining: {jit_compile: optimiser}\n",
        r"recipe.yaml:4: `training.jit_compile` must be true, false, 'auto' or 'optimizer' \(got 'optimiser'\)",
    ),
    "not a mapping": ("- just\n- a list\n", r"recipe.yaml: a recipe must be a YAML mapping"),
}


@pytest.mark.parametrize("text, message", BROKEN.values(), ids=BROKEN.keys())
def test_broken_recipe_is_reported_with_line(write_recipe, text, message):
    """Each kind of broken recipe gives one clear message with file and line."""
    problems = problems_of(write_recipe(text))
    assert any(re.search(message, p) for p in problems), problems


def test_all_problems_reported_at_once(write_recipe):
    """Several mistakes in one recipe are all reported together."""
    text = "name: x\ndataset: synthetic\nmodel: seed_cn\ntraining:\n  epochs: 0\n  batch: 3\nplugins: [nope]\n"
    problems = problems_of(write_recipe(text))
    assert sorted(p.split(":")[1] for p in problems) == ["3", "5", "6", "7"]


def test_missing_file(tmp_path):
    """A recipe path that does not exist is a RecipeError naming it."""
    with pytest.raises(RecipeError, match="missing.yaml: cannot read recipe"):
        load_recipe(tmp_path / "missing.yaml")


def test_extends_merges_and_child_wins(write_recipe):
    """`extends:` merges mappings key by key; the child's values win, lists are replaced."""
    write_recipe(
        "name: base\ndataset: synthetic\nmodel: seed_cnn\ntraining: {epochs: 3, batch_size: 8}\nplugins: [console]\n",
        "base.yaml",
    )
    recipe = load_recipe(write_recipe("extends: base.yaml\nname: child\ntraining: {epochs: 1}\nplugins: []\n"))
    assert (recipe.name, recipe.training.epochs, recipe.training.batch_size, recipe.plugins) == ("child", 1, 8, [])


def test_extends_with_another_component_drops_the_parents_args(write_recipe):
    """A child naming another model (or dataset) keeps none of the parent's args; the same name merges them."""
    write_recipe(
        "name: base\ndataset: {name: synthetic, args: {num_train: 64}, validation_split: 0.25}\n"
        "model: {name: mlp, args: {units: [16]}}\n",
        "base.yaml",
    )
    other = load_recipe(write_recipe("extends: base.yaml\nname: child\nmodel: {name: seed_cnn}\n"))
    assert (other.model.name, other.model.args) == ("seed_cnn", {})
    same = load_recipe(write_recipe("extends: base.yaml\nname: child\nmodel: {name: mlp, args: {dropout: 0.1}}\n"))
    assert same.model.args == {"units": (16,), "dropout": 0.1}
    renamed = load_recipe(
        write_recipe("extends: base.yaml\nname: child\ndataset: {name: sklearn, args: {name: iris}}\n")
    )
    assert (renamed.dataset.args, renamed.dataset.validation_split) == ({"name": "iris"}, 0.25)


def test_extends_errors_point_into_the_right_file(write_recipe):
    """A bad value inherited from a base recipe is reported at the base file's line."""
    write_recipe("name: base\ndataset: synthetic\nmodel: seed_cnn\ntraining:\n  epochs: 0\n", "base.yaml")
    problems = problems_of(write_recipe("extends: base.yaml\nname: child\nmodel: mlp\ntraining:\n  batch_size: -1\n"))
    assert any(p.startswith(f"{Path(p.split(':')[0]).parent}/base.yaml:5:") for p in problems), problems
    assert any("recipe.yaml:5: `training.batch_size`" in p for p in problems), problems


def test_extends_cycle_and_missing_base(write_recipe):
    """A cycle of `extends:` and a missing base file are reported."""
    write_recipe("extends: b.yaml\nname: a\n", "a.yaml")
    write_recipe("extends: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(RecipeError, match="`extends` forms a cycle"):
        load_recipe(write_recipe("extends: a.yaml\nname: c\n", "c.yaml"))
    with pytest.raises(RecipeError, match="recipe.yaml:1: `extends` names a missing file"):
        load_recipe(write_recipe("extends: nowhere.yaml\n"))


def test_overrides_are_parsed_and_checked(write_recipe):
    """`--set` values are YAML scalars, checked like the file, and blamed on the override."""
    recipe = load_recipe(write_recipe(GOOD), ["training.epochs=1", "model.args.units=4", "name=renamed"])
    assert (recipe.training.epochs, recipe.model.args, recipe.name) == (1, {"units": 4}, "renamed")
    problems = problems_of(write_recipe(GOOD), ["training.epochs=five", "training.epoks=1"])
    assert "--set training.epochs=five: `training.epochs` must be a positive integer (got 'five')" in problems
    assert any(p.startswith("--set training.epoks=1: unknown key") and "did you mean 'epochs'?" in p for p in problems)


def test_bad_override_syntax(write_recipe):
    """An override without `=` or through a scalar is rejected with its text."""
    problems = problems_of(write_recipe(GOOD), ["training.epochs", "metrics.5.name=x"])
    assert problems[0] == "--set training.epochs: an override must look like `training.epochs=3`"
    assert problems[1].startswith("--set metrics.5.name=x: cannot set `metrics[5].name`")


def test_aliases_cannot_blow_up(write_recipe):
    """A 'billion laughs' recipe is refused quickly instead of expanding."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 9)
    ]
    with pytest.raises(RecipeError, match="too large or too deeply nested"):
        load_recipe(write_recipe("\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("name:" + " {a:" * 60 + " 1" + "}" * 60 + "\n", "recipe.yaml:1: recipe is too large or too deeply nested"),
        ("name: " + "[" * 20000 + "\n", "recipe.yaml: invalid YAML: nested too deeply"),
        ("name: " + "x" * 1_100_000 + "\n", "recipe.yaml: recipe is larger than 1,000,000 bytes"),
    ],
    ids=["deep mappings", "deep brackets", "huge file"],
)
def test_huge_or_deep_yaml_is_refused_quickly(write_recipe, text, message):
    """Deeply nested or very large YAML is refused with a message, not a hang or a crash."""
    assert any(p.endswith(message) or message in p for p in problems_of(write_recipe(text)))


def test_resolved_recipe_round_trips(write_recipe):
    """The resolved recipe printed by `show` loads back to the same recipe."""
    recipe = load_recipe(write_recipe(GOOD + "plugins: [console]\n"))
    again = load_recipe(write_recipe(recipe_to_yaml(recipe), "again.yaml"))
    assert again == recipe


def test_override_inside_a_shorthand_list_item(write_recipe):
    """`--set plugins.0.args.every=2` works on `plugins: [evaluation]`."""
    recipe = load_recipe(write_recipe(GOOD + "plugins: [evaluation, console]\n"), ["plugins.0.args.every=2"])
    assert recipe.plugins[0].args == {"every": 2} and recipe.plugins[1].name == "console"


def test_override_problems_come_with_the_files(write_recipe):
    """Bad overrides and bad file values are reported together; `extends` cannot be overridden."""
    problems = problems_of(write_recipe(GOOD + "seed: -1\n"), ["extends=other.yaml", "training.epochs=0"])
    assert problems[0] == "--set extends=other.yaml: `extends` cannot be overridden; edit the recipe file"
    assert any("`seed` must be an integer from 0 to 4294967295 or null (got -1)" in p for p in problems)
    assert any("`training.epochs` must be a positive integer (got 0)" in p for p in problems)


def test_fast_recipes_train_the_fast_cnn():
    """The fast recipes load; mnist_fast keeps fashion_mnist_fast's settings without the flips."""
    root = Path(__file__).parents[2] / "recipes"
    fashion, digits = load_recipe(root / "fashion_mnist_fast.yaml"), load_recipe(root / "mnist_fast.yaml")
    assert (fashion.model.name, fashion.training.batch_size, fashion.model.args["flip"]) == ("fast_cnn", 128, True)
    assert (digits.dataset.name, digits.model.args["flip"]) == ("mnist", False)
    assert digits.model.args["units"] == fashion.model.args["units"] and digits.plugins == fashion.plugins


def test_every_shipped_recipe_loads():
    """Every recipe in recipes/ passes the recipe check (data folders aside: benchmarks/ writes the PNG one)."""
    for file in sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml")):
        assert load_recipe(file, paths_exist=False).name, file


def test_setting_args_of_a_default_component(write_recipe):
    """`--set optimizer.args.learning_rate=...` on a recipe without `optimizer:` tunes the default optimizer."""
    recipe = load_recipe(write_recipe(GOOD), ["optimizer.args.learning_rate=0.01"])
    assert (recipe.optimizer.name, recipe.optimizer.args) == ("adam", {"learning_rate": 0.01})


def test_a_rebuilt_recipe_keeps_the_lines_of_its_values(tiny_recipe):
    """A recipe rebuilt with dataclasses.replace still places its values at their file lines (errors from it too)."""
    recipe = load_recipe(tiny_recipe())
    rebuilt = dataclasses.replace(recipe, training=dataclasses.replace(recipe.training, epochs=3))
    assert rebuilt.locate(("training", "epochs")).endswith("recipe.yaml:10")
    assert rebuilt.locate(("training", "epochs")) == recipe.locate(("training", "epochs"))


def test_where_values_were_written_is_no_recipe_key(tiny_recipe):
    """`origins`, where Tapeline keeps the lines of values, cannot be written in a recipe."""
    with pytest.raises(RecipeError, match=r"unknown key `origins`; allowed: name, dataset, model, seed"):
        load_recipe(tiny_recipe("origins: {}\n"))
