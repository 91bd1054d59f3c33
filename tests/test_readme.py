"""Tests that the README's commands, example plugin and example model are real."""

from __future__ import annotations

import re
from pathlib import Path

from framework.cli import main
from framework.recipe.loader import load_recipe
from framework.recipe.registry import PLUGINS
from framework.recipe.schema import written_fields
from framework.recipe.sections import (
    DatasetSection,
    DistributeSection,
    Recipe,
    TrainingSection,
)

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def code_block(first_line: str) -> str:
    """The fenced code block of the README whose first line is `first_line`."""
    return re.search(rf"```\w*\n({re.escape(first_line)}\n.*?)```", README, re.S).group(1)


def test_ci_runs_the_readme_test_command():
    """The README opens with two set-up commands, and .ci/run runs the second one verbatim."""
    commands = re.search(r"```sh\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(commands) == 2 and "tapeline train recipes/fashion_mnist.yaml" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_names_the_plugins_of_fashion_mnist_yaml():
    """The sentence introducing recipes/fashion_mnist.yaml names exactly its plugins, in order."""
    sentence = re.search(r"`recipes/fashion_mnist.yaml` extends it.*?Measured on", README, re.S).group(0)
    named = [name for name in re.findall(r"`(\w+)`", sentence) if name in PLUGINS.names()]
    assert named == [plugin.name for plugin in load_recipe(ROOT / "recipes" / "fashion_mnist.yaml").plugins]


def test_readme_plugin_and_model_work(tmp_path, monkeypatch, capsys, tiny_recipe):
    """The README's plugin stops a run and its model trains, both named by import path."""
    (tmp_path / "stop_at.py").write_text(code_block("# stop_at.py"))
    (tmp_path / "nets.py").write_text(code_block("# nets.py"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = tiny_recipe("plugins: [console, {name: 'stop_at:StopAt', args: {target: 0.0}}]\n")
    code = main(
        [
            "train",
            str(recipe),
            "--set",
            "model={name: 'nets:small_cnn', args: {width: 4}}",
            "--set",
            "training.epochs=3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "stopped early: accuracy" in out and "reached 0.0 in epoch 1" in out


def test_readme_documents_every_recipe_key():
    """Each recipe field appears in the README's recipe reference."""
    for section, prefix in (
        (Recipe, ""),
        (DatasetSection, "dataset."),
        (TrainingSection, "training."),
        (DistributeSection, "distribute."),
    ):
        for field in written_fields(section):
            assert re.search(rf"`{prefix}{field.name}[`.]", README), f"{prefix}{field.name}"
