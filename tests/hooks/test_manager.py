"""Tests for loading plugins: Keras callbacks, entry points, listing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from framework import enable_batch_hook, hookimpl
from framework.cli import main
from framework.errors import RecipeError, TapelineError
from framework.hooks.manager import (
    call_order,
    load_plugins,
    plugin_problems,
    plugin_sequence,
)
from framework.recipe.loader import load_recipe
from framework.recipe.registry import PLUGINS
from framework.training.lifecycle import train


def test_keras_callbacks_run_from_a_recipe(tiny_recipe, tmp_path):
    """Keras callbacks named by import path are passed to fit; their args are checked like a plugin's."""
    plugins = (
        "plugins:\n  - {name: 'keras.callbacks:EarlyStopping', args: {monitor: loss, patience: 1, min_delta: 10}}\n"
        f"  - {{name: 'keras.callbacks:CSVLogger', args: {{filename: {tmp_path / 'keras.csv'}}}}}\n"
    )
    run = train(load_recipe(tiny_recipe(plugins), ["training.epochs=5"]))
    assert len(run.history) == 2 and run.keras_callbacks[0].stopped_epoch == 1
    assert len((tmp_path / "keras.csv").read_text().splitlines()) == 3
    with pytest.raises(RecipeError, match=r"unknown key `plugins\[0\].args.patiense`; .*did you mean 'patience'\?"):
        load_recipe(tiny_recipe("plugins: [{name: 'keras.callbacks:EarlyStopping', args: {patiense: 1}}]\n"))


def test_list_plugins_shows_source_and_hooks(capsys):
    """`tapeline list plugins` names each plugin's source and the hooks it implements."""
    assert main(["list", "plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"early_stopping +built-in +Stops training when", out)
    assert "hooks: on_epoch_end, on_train_end\n" in out  # evaluation
    assert "hooks: on_batch_end?" in out  # nan_guard


def test_installed_package_plugin_via_entry_point(tmp_path, monkeypatch, tiny_recipe):
    """The example package under tests/, once installed, is found by its entry-point name and runs."""
    source = Path(__file__).parents[1] / "example_plugin"
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setattr(PLUGINS, "_entries", None)  # forget the entry points read before the install
    entry = PLUGINS.get("epoch_counter")
    assert entry.source == "entry point (tapeline-example)"
    run = train(load_recipe(tiny_recipe("plugins: [{name: epoch_counter, args: {start: 10}}]\n")))
    assert [row["epochs_seen"] for row in run.history] == [11.0, 12.0]


def test_plugins_called_in_recipe_order_after_the_plugins_they_name(tiny_recipe, capsys):
    """Recipe order, except that a plugin comes after those its `after` names; tryfirst/trylast hooks move; show prints
    both orders."""
    file = tiny_recipe("plugins: [console, plots, 'test_adapter:Recorder', evaluation, nan_guard]\n")
    manager = load_plugins(load_recipe(file))[0]
    assert [name for name, _ in plugin_sequence(manager)] == [
        "test_adapter:Recorder",
        "evaluation",
        "console",
        "plots",
        "nan_guard",
    ]
    order = call_order(manager)
    assert order["on_epoch_end"] == ["test_adapter:Recorder", "evaluation", "console"]
    assert order["on_batch_end"] == ["nan_guard"]
    assert order["on_train_end"] == ["test_adapter:Recorder", "evaluation", "console", "plots"]
    assert main(["show", str(file)]) == 0
    out = capsys.readouterr().out
    assert (
        "#   3. console: on_train_begin, on_train_end, on_epoch_begin, on_epoch_end (trylast), on_evaluate_end\n" in out
    )
    assert "#   5. nan_guard: on_batch_end (tryfirst)\n" in out
    assert "#   on_batch_end: nan_guard\n" in out


class AfterTypo:
    """Names a plugin that does not exist."""

    after = ("evaluaton",)

    @hookimpl
    def on_epoch_end(self) -> None:
        """Nothing."""


class AfterString(AfterTypo):
    """`after` written as a string, not a tuple."""

    after = "evaluation"


class CycleA(AfterTypo):
    """After CycleB."""

    after = ("test_manager:CycleB",)


class CycleB(AfterTypo):
    """After CycleA."""

    after = ("test_manager:CycleA",)


class OldOrder(AfterTypo):
    """Declares the old `order` number."""

    after = ()
    order = 5


def test_bad_after_declarations_are_recipe_problems(tiny_recipe):
    """An unknown name (with a suggestion), a string instead of a tuple, and a cycle are errors at the plugin's line."""
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:15: plugin 'test_manager:AfterTypo' has `after` naming 'evaluaton', which is no "
        r"plugin; plugins: .*did you mean 'evaluation'\?",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:AfterTypo")))
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:15: plugin 'test_manager:AfterString' has `after = 'evaluation'`; it must be a "
        r"tuple of plugin names",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:AfterString")))
    cycle = (
        r"recipe.yaml:1[56]: plugin 'test_manager:Cycle[AB]' has `after` in a cycle: "
        r"'test_manager:Cycle(A|B)' after 'test_manager:Cycle(?!\1)[AB]' after "
        r"'test_manager:Cycle\1'"
    )
    with pytest.raises(RecipeError, match=cycle):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "console", "test_manager:CycleA", "test_manager:CycleB")))


def test_the_old_order_number_is_ignored_with_a_warning(tiny_recipe):
    """A plugin still declaring `order = N` gets a FutureWarning and is called in recipe order."""
    file = plugin_recipe(tiny_recipe, "test_manager:OldOrder", "test_adapter:Recorder")
    with pytest.warns(
        FutureWarning,
        match=r"plugin 'test_manager:OldOrder' sets `order = 5`, which Tapeline no longer reads: plugins are "
        r"called in recipe order",
    ):
        manager = load_plugins(load_recipe(file))[0]
    assert call_order(manager)["on_epoch_end"] == ["test_manager:OldOrder", "test_adapter:Recorder"]


def test_plugin_with_unknown_hook_is_refused(tiny_recipe, monkeypatch):
    """A hookimpl whose name is not a Tapeline hook is reported with the plugin's name."""

    class Typo:
        @hookimpl
        def on_epoch_ned(self, epoch: int) -> None:
            """Misspelled on purpose."""

    monkeypatch.setattr(sys.modules[__name__], "Typo", Typo, raising=False)
    with pytest.raises(
        TapelineError,
        match="plugin 'test_manager:Typo' implements unknown hook 'on_epoch_ned'; hooks: .*did you mean 'on_epoch_end'",
    ):
        load_plugins(load_recipe(tiny_recipe("plugins: ['test_manager:Typo']\n")))


class NoDecorator:
    """Right hook name and arguments, without @hookimpl."""

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        """Never called."""


class MisspelledNoDecorator:
    """A misspelled hook name, without @hookimpl."""

    def on_epoch_ends(self, epoch: int) -> None:
        """Never called."""


class WrongArgument:
    """A hook taking an argument the hook does not pass."""

    @hookimpl
    def on_epoch_end(self, epoch: int, log: dict) -> None:
        """`log` instead of `logs`."""


class NoHooks:
    """A plugin object with no hook at all."""

    def __init__(self, every: int = 1) -> None:
        self.every = every


class OnlyOptionalHooks:
    """Implements only the batch hook, and only when asked to (see enable_batch_hook)."""

    optional_hooks = ("on_batch_end",)

    def __init__(self, batches: bool = False) -> None:
        if batches:
            enable_batch_hook(self, self.count)

    def count(self, batch: int) -> None:
        """Called for every batch once enabled."""


def plugin_recipe(tiny_recipe, *names: str) -> Path:
    """The tiny recipe with `names` as its plugins, one per line (line 14 onwards)."""
    return tiny_recipe("plugins:\n" + "".join(f"  - '{name}'\n" for name in names))


def test_undecorated_hook_is_refused_at_its_recipe_line(tiny_recipe):
    """An `on_*` method without @hookimpl is an error at the plugin's line, telling to add the decorator."""
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:15: plugin 'test_manager:NoDecorator' has method 'on_epoch_end' without "
        r"`@hookimpl`, so Tapeline never calls it; add `@framework.hookimpl` above it",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:NoDecorator")))


def test_undecorated_misspelled_hook_gets_a_suggestion(tiny_recipe):
    """A misspelled, undecorated hook says what it meant and to add @hookimpl."""
    with pytest.raises(
        RecipeError,
        match=r"has method 'on_epoch_ends' without `@hookimpl`, and no hook has that name; name it after a hook and "
        r"add `@framework.hookimpl` .*did you mean 'on_epoch_end'\?",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:MisspelledNoDecorator")))


def test_unknown_hook_argument_is_a_recipe_problem(tiny_recipe):
    """An argument a hook does not pass is named, with the hook's arguments and a suggestion."""
    with pytest.raises(
        RecipeError,
        match=r"recipe.yaml:15: plugin 'test_manager:WrongArgument' has method 'on_epoch_end' with unknown "
        r"argument 'log'; on_epoch_end passes trainer, run, epoch, logs; did you mean 'logs'\?",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:WrongArgument")))


def test_plugin_without_hooks_is_refused_unless_they_are_optional(tiny_recipe):
    """A plugin object implementing no hook is an error; one whose hooks are optional (enable_batch_hook) is not."""
    with pytest.raises(
        RecipeError,
        match=r"plugin 'test_manager:NoHooks' implements no Tapeline hook; hooks: on_train_begin, "
        r".*on_evaluate_end; name a method after a hook",
    ):
        load_plugins(load_recipe(plugin_recipe(tiny_recipe, "test_manager:NoHooks")))
    file = tiny_recipe(
        "plugins: [test_manager:OnlyOptionalHooks, {name: test_manager:OnlyOptionalHooks, args: {batches: true}}]\n"
    )
    manager, _ = load_plugins(load_recipe(file))
    assert len(manager.get_plugins()) == 2 and len(call_order(manager)["on_batch_end"]) == 1


def test_every_plugins_problems_are_reported_together_by_validate(tiny_recipe, capsys):
    """`tapeline validate` exits 2 listing each faulty plugin at its own line; Keras callbacks are not checked."""
    file = plugin_recipe(
        tiny_recipe,
        "test_manager:NoDecorator",
        "keras.callbacks:TerminateOnNaN",
        "test_manager:WrongArgument",
        "console",
    )
    assert main(["validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert "invalid recipe (2 problems)" in err
    assert re.search(
        r"recipe.yaml:15: plugin 'test_manager:NoDecorator' .*\n  .*recipe.yaml:17: plugin "
        r"'test_manager:WrongArgument'",
        err,
    )


def test_builtin_plugins_pass_the_hook_checks():
    """Every built-in plugin, built with its defaults (metrics_log needs `every_n_batches`), implements its hooks
    correctly."""
    required = {"metrics_log": {"every_n_batches": 1}}
    for entry in PLUGINS:
        if entry.source == "built-in":
            assert plugin_problems(entry.name, entry.target(**required.get(entry.name, {}))) == [], entry.name
