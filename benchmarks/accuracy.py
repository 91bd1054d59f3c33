"""Trains a recipe end to end on real data and reports test accuracy and wall time per epoch.

    python benchmarks/accuracy.py recipes/fashion_mnist.yaml
    python benchmarks/accuracy.py recipes/fashion_mnist_fast.yaml --set training.epochs=3

The recipe runs as ``tapeline train`` would (its own plugins, in a temporary run directory)
plus an epoch timer; the evaluation plugin is added when the recipe lacks it, so the final test
accuracy is always measured. Prints a Markdown table and the whole run's wall time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from epoch_timer import EpochTimer  # noqa: F401  (named by TIMER)
from framework.recipe import Component, load_recipe
from framework.run import train

TIMER = "__main__:EpochTimer"  # the class imported above, as seen from this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
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


if __name__ == "__main__":
    main()
