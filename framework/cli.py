"""The ``tapeline`` command: train, evaluate, validate, show, list, schema, runs, compare, tune, export and predict.

Only the standard library is imported here; each command imports what it needs, so
``tapeline --help``, ``list plugins`` and recipe mistakes found before any name is looked up
start no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from framework.errors import NothingToDo, TapelineError
from framework.runtime.fast_exit import exit_process
from framework.runtime.quiet import quiet_tensorflow, show_warnings_briefly
from framework.tools import arguments

if TYPE_CHECKING:
    from framework.data.tasks import Target
    from framework.recipe.sections import Recipe

EXIT_INTERRUPTED = 130


def _recipe_arguments(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    help_text = "recipe YAML file" + (" (default with --resume: the run's own)" if optional else "")
    parser.add_argument("recipe", type=Path, nargs="?" if optional else None, help=help_text)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set training.epochs=1 (repeatable)",
    )


def _load(args: argparse.Namespace) -> Recipe:
    from framework.recipe.loader import load_recipe

    return load_recipe(args.recipe, args.overrides)


def cmd_train(args: argparse.Namespace) -> int:
    """Trains a recipe and writes the run directory."""
    if args.resume:
        args.recipe = args.recipe or args.resume / "recipe.yaml"
    if not args.recipe:
        raise TapelineError("train needs a RECIPE, or --resume RUN_DIR")
    recipe = _load(args)  # before importing TensorFlow: a broken YAML file is reported at once
    if recipe.distribute.launcher == "ray":
        from framework.training.ray_launcher import launch

        if args.workers is not None or args.worker_index:
            raise TapelineError(
                "--workers and --worker-index cannot be given with `distribute.launcher: ray`: Ray starts the workers"
            )
        directory, stop_reason = launch(
            recipe, args.resume or args.output, args.overwrite, resume=bool(args.resume), quiet=not args.verbose
        )
        print(f"run saved to {directory}" + (f" (stopped early: {stop_reason})" if stop_reason else ""))
        return 0
    from framework.runtime.distribute import set_cluster
    from framework.training.lifecycle import train

    if args.workers is not None:
        if recipe.distribute.strategy != "multi_worker":
            raise TapelineError(
                "--workers needs `distribute.strategy: multi_worker` in the recipe (got "
                f"{recipe.distribute.strategy!r})"
            )
        set_cluster(args.workers, args.worker_index)
    run = train(recipe, args.resume or args.output, args.overwrite, resume=bool(args.resume))
    stopped = f" (stopped early: {run.stop_reason})" if run.stop_reason else ""
    print(
        f"run saved to {run.directory}{stopped}"
        if run.is_chief
        else f"worker {run.worker_index} done{stopped}; the chief writes the run"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluates saved weights on the recipe's test split; --errors K lists the samples they get most wrong."""
    from framework.hooks.monitor import format_metrics

    if args.errors is None:
        if args.split is not None or args.output is not None:
            raise TapelineError("--split and --output go with --errors K (the error report)")
        from framework.tools.evaluate import evaluate_weights

        print(f"test  {format_metrics(evaluate_weights(_load(args), args.weights))}")
        return 0
    from framework.tools.evaluate import weights_errors
    from framework.training.error_report import error_lines, write_errors

    split = args.split or "test"
    metrics, rows = weights_errors(_load(args), args.weights, split, args.errors)
    print(f"{split}  {format_metrics(metrics)}")
    print(f"the {args.errors} highest-loss and most confidently wrong samples of the {split} split:")
    print("\n".join(error_lines(rows)))
    if args.output is not None:
        print(f"wrote {write_errors(args.output, rows)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Builds everything a recipe names, audits its data and tries one training step, writing nothing."""
    if args.strict:
        args.overrides.append("dataset.audit=strict")
    recipe = _load(args)
    from framework.training.run import build_run

    run = build_run(recipe, audit=True)
    run.check_first_step()
    sizes = ", ".join(f"{n:,} {split}" for split, n in run.data.sizes.items())
    print(
        f"{args.recipe}: ok — {run.data.source}: {sizes} samples, input {run.data.input_shape}, "
        f"{describe_targets(run.data.targets)}; "
        f"model {run.trainer.network.name} with {run.trainer.network.count_params():,} parameters"
    )
    return 0


def describe_targets(targets: list[Target]) -> str:
    """``3 classes`` / ``binary`` / ``regression of 3 values`` / ``outputs main: 3 classes, aux: ...``."""

    def one(target: Target) -> str:
        return {
            "classification": f"{target.units} classes",
            "binary": "binary",
            "multilabel": f"{target.units} labels (multilabel)",
            "regression": f"regression of {target.units} value{'s' if target.units > 1 else ''}",
        }[target.task]

    if len(targets) == 1 and targets[0].name is None:
        return one(targets[0])
    return "outputs " + ", ".join(f"{t.name}: {one(t)}" for t in targets)


def cmd_show(args: argparse.Namespace) -> int:
    """Prints the resolved recipe, the plugins in calling order with their hooks, and each hook's call order."""
    recipe = _load(args)
    from framework.hooks.manager import call_order, load_plugins, plugin_sequence
    from framework.recipe.loader import recipe_to_yaml

    manager = load_plugins(recipe)[0]  # plugin problems before any output
    order = {hook: names for hook, names in call_order(manager).items() if names}
    print(recipe_to_yaml(recipe), end="")
    if order:
        print("# plugins in calling order (recipe order; each after the plugins its class names in `after`):")
        for place, (name, hooks) in enumerate(plugin_sequence(manager), 1):
            print(f"#   {place}. {name}: {', '.join(hooks)}")
        print("# plugin call order per hook (tryfirst/trylast hooks move to the front/back):")
        for hook, names in order.items():
            print(f"#   {hook}: {', '.join(names)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Lists registered models, datasets or plugins."""
    from framework.hooks.manager import implemented_hooks
    from framework.recipe.registry import DATASETS, MODELS, PLUGINS

    registry = {"models": MODELS, "datasets": DATASETS, "plugins": PLUGINS}[args.kind]
    entries = list(registry)
    width = max((len(e.name) for e in entries), default=0)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.source:<12}  {entry.summary}")
        if registry is PLUGINS:
            hooks = implemented_hooks(entry.target)
            print(f"{'':<{width}}  {'':<12}  hooks: {', '.join(hooks)}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Writes the recipe JSON Schema, for editors with a YAML language server."""
    from framework.files import write_text
    from framework.recipe.json_schema import schema_text

    text = schema_text()
    if args.output:
        write_text(args.output, text)
        print(
            f"wrote {args.output}; make `# yaml-language-server: $schema={args.output}` a recipe's first line (path "
            "relative to the recipe)"
        )
    else:
        print(text, end="")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """Lists the runs under a directory: status, epochs, best and final metric, test metrics, time."""
    from framework.tools.runs import show_runs

    show_runs(args.directory, args.metric, args.sort, args.json)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Draws the learning curves of several runs in one image."""
    from framework.tools.compare import compare_runs

    print(f"wrote {compare_runs(args.runs, args.metric or ['val_loss'], args.output)}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Searches the recipe's `search:` section with Optuna; each trial is a run (see docs/tuning.md)."""
    from framework.tools.tune import TuneRequest, tune_command

    return tune_command(
        TuneRequest(
            args.recipe,
            tuple(args.overrides),
            args.trials,
            args.timeout,
            args.storage,
            args.study,
            args.output,
            args.resume,
        )
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Exports a run's network with its preprocessing inside (raw inputs in) and checks the file in its own runtime."""
    if args.quantize is not None or args.max_drop is not None:
        from framework.tools.quantize import quantize_command

        return quantize_command(
            args.run, args.format, args.output, args.samples, args.tolerance, args.quantize, args.max_drop
        )
    from framework.tools.export import export_command

    return export_command(args.run, args.format, args.output, args.samples, args.tolerance)


def cmd_predict(args: argparse.Namespace) -> int:
    """Predicts image files or folders, CSV or .npz files with a run; one row per sample."""
    from framework.tools.predict import predict_command

    return predict_command(args.run, args.inputs, args.output, args.batch_size)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all sub-commands."""
    parser = argparse.ArgumentParser(prog="tapeline", description="Train Keras networks from YAML recipes.")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's own log lines and warnings (hidden by default unless TF_CPP_MIN_LOG_LEVEL is set)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=handler.__doc__, description=handler.__doc__)
        sub.set_defaults(handler=handler)
        return sub

    train = command("train", cmd_train)
    _recipe_arguments(train, optional=True)
    where = train.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, help="run directory (default: <training.output_dir>/<name>/version_<N>)")
    where.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue an earlier run from its last saved state"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    train.add_argument(
        "--workers", metavar="HOST:PORT,...", help="the cluster of a multi_worker recipe (writes TF_CONFIG)"
    )
    train.add_argument(
        "--worker-index",
        type=int,
        default=0,
        metavar="N",
        help="this process's place in --workers (default 0, the chief)",
    )
    evaluate = command("evaluate", cmd_evaluate)
    _recipe_arguments(evaluate)
    evaluate.add_argument("--weights", type=Path, required=True, help="a .weights.h5 file or a run directory")
    arguments.evaluate_errors(evaluate)
    validate = command("validate", cmd_validate)
    _recipe_arguments(validate)
    validate.add_argument(
        "--strict", action="store_true", help="exit 2 when the leakage audit finds something (dataset.audit=strict)"
    )
    _recipe_arguments(command("show", cmd_show))
    command("list", cmd_list).add_argument("kind", choices=["models", "datasets", "plugins"])
    tune = command("tune", cmd_tune)
    _recipe_arguments(tune, optional=True)
    arguments.tune(tune)
    command("schema", cmd_schema).add_argument(
        "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout"
    )
    arguments.runs(command("runs", cmd_runs))
    arguments.compare(command("compare", cmd_compare))
    arguments.export(command("export", cmd_export))
    arguments.predict(command("predict", cmd_predict))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (2 for bad input, with a message, no traceback)."""
    args = build_parser().parse_args(argv)
    if not args.verbose:
        quiet_tensorflow()
        show_warnings_briefly()
    if os.getcwd() not in sys.path:  # as with `python -m`: 'module:Class' paths may name local files
        sys.path.insert(0, os.getcwd())
    try:
        return args.handler(args)
    except NothingToDo as done:
        print(done)
        return done.exit_code
    except TapelineError as error:
        if error.shown_cause is not None:
            traceback.print_exception(error.shown_cause, file=sys.stderr)
        print(f"tapeline: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("tapeline: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> NoReturn:
    """The ``tapeline`` console script and ``python -m framework``: `main` on ``sys.argv``, then the process ends
    without the interpreter's teardown (`framework.runtime.fast_exit`: 1.2 s less with TensorFlow loaded)."""
    exit_process(main())
