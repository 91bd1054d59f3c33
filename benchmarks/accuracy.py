"""Trains a recipe end to end on real data and reports test accuracy and wall time per epoch.

    python benchmarks/accuracy.py recipes/fashion_mnist.yaml
    python benchmarks/accuracy.py recipes/fashion_mnist_fast.yaml --set training.epochs=3
    python benchmarks/accuracy.py recipes/fashion_mnist_fast.yaml --target 0.93   # time to 0.93 (benchmarks/gpu.sh)

The recipe runs as ``tapeline train`` would (its own plugins, in a temporary run directory)
plus an epoch timer; the evaluation plugin is added when the recipe lacks it, so the final test
accuracy is always measured. Prints a Markdown table and the whole run's wall time; with
``--target``, also whether the test accuracy reached it and the whole run's seconds to get there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from epoch_timer import EpochTimer  # noqa: F401  (named by TIMER)

from framework.recipe.loader import Component, load_recipe
from framework.training.lifecycle import train

TIMER = "__main__:EpochTimer"  # the class imported above, as seen from this script


def target_line(target: float, accuracy: float, seconds: float) -> str:
    """The time to `target` test accuracy: the whole run's `seconds` if its final `accuracy` reached it."""
    if accuracy >= target:
        return f"time to {target:.3f} test accuracy: {seconds:.0f} s (the whole run; test accuracy {accuracy:.4f})"
    return f"test accuracy {target:.3f} NOT reached: {accuracy:.4f} after {seconds:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--target",
        type=float,
        metavar="ACC",
        help="report the time to this test accuracy (the whole run's, or not reached)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as output:
        recipe = load_recipe(args.recipe, [*args.overrides, f"training.output_dir={output}"])
        names = [plugin.name for plugin in recipe.plugins]
        recipe.plugins += [Component(TIMER)] + ([] if "evaluation" in names else [Component("evaluation")])
        started = time.perf_counter()
        run = train(recipe)
        wall = time.perf_counter() - started
        test = json.loads((run.directory / "evaluation.json").read_text())
    clock = run.plugins.get_plugin(TIMER)
    print(f"\n{recipe.name}: test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, {wall:.0f} s in all\n")
    print("| epoch | seconds | loss | accuracy |" + (" val_accuracy |" if "val_accuracy" in run.history[0] else ""))
    print("|---|---|---|---|" + ("---|" if "val_accuracy" in run.history[0] else ""))
    for row, seconds in zip(run.history, clock.epochs):
        val = f" {row['val_accuracy']:.4f} |" if "val_accuracy" in row else ""
        print(f"| {row['epoch']} | {seconds:.1f} | {row['loss']:.4f} | {row['accuracy']:.4f} |{val}")
    if args.target is not None:
        print(f"\n{target_line(args.target, test['accuracy'], wall)}")


if __name__ == "__main__":
    main()
