"""What the default plugins of recipes/fashion_mnist.yaml add to an epoch, measured side by side.

Runs the recipe with no plugins and with its own plugins, interleaved (A B A B ...), in one
process on the same data, and prints the median epoch time of each, their ratio, and the
one-off cost at the end of a run (final evaluation, plots). An epoch is timed from the first
``on_epoch_begin`` call to the last ``on_epoch_end`` call, so plugin work is inside it.

    python benchmarks/plugin_overhead.py            # 4 repeats, 2 epochs of 12,800 samples
    python benchmarks/plugin_overhead.py --quick    # 2 repeats, 2 epochs of 6,400 samples
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import keras

from epoch_timer import EpochTimer  # noqa: F401  (named by TIMER)
from framework.recipe import Component, load_recipe
from framework.run import train

RECIPE = Path(__file__).parent.parent / "recipes" / "fashion_mnist.yaml"
TIMER = "__main__:EpochTimer"  # the class imported above, as seen from this script


def timed_run(with_plugins: bool, samples: int, epochs: int, output: Path) -> tuple[list[float], float]:
    """Epoch times (after the first, which includes tracing) and the whole run's wall time."""
    keras.backend.clear_session()
    overrides = [f"dataset.limit={samples}", f"training.epochs={epochs + 1}", f"training.output_dir={output}"]
    recipe = load_recipe(RECIPE, overrides + ([] if with_plugins else ["plugins=[]"]))
    recipe.plugins.append(Component(TIMER))
    started = time.perf_counter()
    run = train(recipe)
    return run.plugins.get_plugin(TIMER).epochs[1:], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats of 6,400 samples")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run (one more runs first, untimed)")
    args = parser.parse_args()
    repeats, samples = (2, 6_400) if args.quick else (args.repeats, args.samples)
    results: dict[str, tuple[list[float], list[float]]] = {"no plugins": ([], []), "default plugins": ([], [])}
    with tempfile.TemporaryDirectory() as output:
        for repeat in range(repeats):
            for label, (epoch_times, run_times) in results.items():
                epochs, wall = timed_run(label == "default plugins", samples, args.epochs, Path(output))
                epoch_times.extend(epochs)
                run_times.append(wall)
                print(f"repeat {repeat + 1}/{repeats}  {label:<16} epochs {', '.join(f'{t:.2f}' for t in epochs)} s  run {wall:.1f} s", flush=True)
    (base_epochs, base_runs), (full_epochs, full_runs) = results.values()
    base, full = statistics.median(base_epochs), statistics.median(full_epochs)
    print(f"\n{samples:,} samples per epoch, {len(base_epochs)} timed epochs each, interleaved\n")
    print("| plugins | median epoch (s) | min-max (s) | median run (s) |")
    print("|---|---|---|---|")
    for label, (epochs, runs) in results.items():
        print(f"| {label} | {statistics.median(epochs):.2f} | {min(epochs):.2f}-{max(epochs):.2f} | {statistics.median(runs):.1f} |")
    print(f"\nepoch time ratio default/none: {full / base:.3f} ({100 * (full / base - 1):+.1f}%)")


if __name__ == "__main__":
    main()
