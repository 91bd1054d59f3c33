"""Tests for RunContext, the read-only run that plugin hooks receive."""

from __future__ import annotations

import pytest

from framework import RunContext, hookimpl
from framework.errors import PluginError
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import build_run


class Probe:
    """Records what the context says in each hook; may request a stop and publish a report."""

    def __init__(self, stop_at: int = -1, publish: bool = False) -> None:
        self.stop_at, self.publish = stop_at, publish
        self.seen: list[tuple] = []
        self.reports: dict = {}

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        self.seen.append(("begin", run.epoch, run.global_step, len(run.history), run.stop_reason))

    @hookimpl
    def on_epoch_end(self, run: RunContext, epoch: int) -> None:
        self.seen.append(("epoch_end", run.epoch, run.global_step, len(run.history), run.stop_reason))
        if self.publish:
            report = {"epoch": epoch, "values": [1, 2]}
            run.publish("probe", report)
            report["values"].append(3)  # the published copy does not change
        if epoch == self.stop_at:
            run.request_stop(f"probe stop at epoch {epoch}")

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        self.seen.append(("end", run.epoch, run.global_step, len(run.history), run.stop_reason))
        self.reports = dict(run.reports)


class LateStop:
    """Asks for a stop when training is over already."""

    @hookimpl
    def on_train_end(self, run: RunContext) -> None:
        run.request_stop("too late")


PROBE = "test_context:Probe"


def test_context_reports_epoch_step_history_and_stop_reason(tiny_recipe):
    """Hooks read the current epoch, the optimizer's step count, the rows so far (the epoch's own row comes after them)
    and the stop reason."""
    run = train(load_recipe(tiny_recipe(f"plugins: ['{PROBE}']\n")))
    assert run.plugins.get_plugin(PROBE).seen == [
        ("begin", None, 0, 0, None),
        ("epoch_end", 0, 6, 0, None),
        ("epoch_end", 1, 12, 1, None),
        ("end", None, 12, 2, None),
    ]
    context = run.context
    assert (context.recipe, context.directory, context.data, context.trainer) == (
        run.recipe,
        run.directory,
        run.data,
        run.trainer,
    )
    assert (context.worker_index, context.is_chief, context.strategy) == (0, True, run.strategy)
    assert context.history == tuple(run.history) and context.history[0] is not run.history[0]
    assert set(context.evaluate("test")) == {"loss", "accuracy"}


def test_request_stop_stops_after_the_epoch_and_later_plugins_see_it(tiny_recipe):
    """run.request_stop(reason) stops training after the epoch; plugins called later in it read the reason; it is the
    run's."""
    run = train(
        load_recipe(
            tiny_recipe(f"plugins: [{{name: '{PROBE}', args: {{stop_at: 0}}}}, '{PROBE}']\n"), ["training.epochs=4"]
        )
    )
    assert run.stop_reason == "probe stop at epoch 0" and len(run.history) == 1
    assert run.plugins.get_plugin(f"{PROBE}#1").seen[1] == ("epoch_end", 0, 6, 0, "probe stop at epoch 0")


def test_request_stop_needs_a_reason_and_a_running_training(tiny_recipe):
    """An empty reason is a ValueError; asking after training ended is a RuntimeError, reported as the plugin's
    failure."""
    with pytest.raises(ValueError, match=r"run.request_stop needs a non-empty reason string \(got ''\)"):
        build_run(load_recipe(tiny_recipe())).context.request_stop("")
    with pytest.raises(
        PluginError,
        match=r"plugin 'test_context:LateStop' failed in on_train_end: RuntimeError: run.request_stop\('too late'\) "
        r"was called after training ended",
    ):
        train(load_recipe(tiny_recipe("plugins: ['test_context:LateStop']\n")))


def test_published_reports_reach_later_plugins_as_read_only_copies(tiny_recipe):
    """run.publish(name, report) stores a copy that later hooks read from run.reports; the mapping cannot be changed."""
    run = train(load_recipe(tiny_recipe(f"plugins: [{{name: '{PROBE}', args: {{publish: true}}}}]\n")))
    assert run.plugins.get_plugin(PROBE).reports == {"probe": {"epoch": 1, "values": [1, 2]}}
    with pytest.raises(TypeError):
        run.context.reports["probe"] = {}
    with pytest.raises(TypeError, match=r"run.publish\('x', ...\) needs a dict report \(got list\)"):
        run.context.publish("x", [1])


def test_context_is_read_only_and_says_what_to_do_instead(tiny_recipe):
    """Setting an attribute raises AttributeError with a migration hint; old attributes that are gone say what replaces
    them."""
    context = build_run(load_recipe(tiny_recipe())).context
    with pytest.raises(
        AttributeError,
        match=r"RunContext is read-only: 'stop_reason' cannot be set; return a reason from on_epoch_end/on_batch_end "
        r"or call run.request_stop\(reason\)",
    ):
        context.stop_reason = "done"
    with pytest.raises(
        AttributeError,
        match=r"RunContext is read-only: 'anything' cannot be set; plugins change a run only through "
        r"run.request_stop, run.publish",
    ):
        context.anything = 1
    with pytest.raises(
        AttributeError,
        match=r"RunContext has no attribute 'initial_epoch'; in on_train_begin, len\(run.history\) is the number of "
        r"epochs done",
    ):
        context.initial_epoch
