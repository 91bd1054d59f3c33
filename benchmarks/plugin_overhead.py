"""What the default plugins of recipes/fashion_mnist.yaml add to an epoch, measured side by side.

Runs the recipe with no plugins and with its own plugins, interleaved (A B A B ...), in one
process on the same data, and prints the median epoch time of each, their ratio, and the
one-off cost at the end of a run (final evaluation, plots). An epoch is timed from the first
``on_epoch_begin`` call to the last ``on_epoch_end`` call, so plugin work is inside it. The
seconds spent inside the epoch hooks are measured too: the plugins' direct cost, which the
epoch times (±10% between repeats on a busy 2-core machine) cannot resolve below a few percent.

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

from framework.recipe.loader import Component, load_recipe
from framework.training.lifecycle import train

RECIPE = Path(__file__).parent.parent / "recipes" / "fashion_mnist.yaml"
TIMER = "__main__:EpochTimer"  # the class imported above, as seen from this script


def timed_run(with_plugins: bool, samples: int, epochs: int, output: Path) -> tuple[list[float], list[float], float]:
    """Epoch times and the seconds of each inside epoch hooks (after the first epoch, which includes tracing), and the
    whole run's wall time."""
    keras.backend.clear_session()
    overrides = [f"dataset.limit={samples}", f"training.epochs={epochs + 1}", f"training.output_dir={output}"]
    recipe = load_recipe(RECIPE, overrides + ([] if with_plugins else ["plugins=[]"]))
    recipe.plugins.append(Component(TIMER))
    started = time.perf_counter()
    run = train(recipe)
    timer = run.plugins.get_plugin(TIMER)
    return timer.epochs[1:], timer.in_hooks[1:], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats of 6,400 samples")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run (one more runs first, untimed)")
    args = parser.parse_args()
    repeats, samples = (2, 6_400) if args.quick else (args.repeats, args.samples)
    results: dict[str, dict[str, list[float]]] = {
        label: {"epochs": [], "hooks": [], "runs": []} for label in ("no plugins", "default plugins")
    }
    with tempfile.TemporaryDirectory() as output:
        for repeat in range(repeats):
            for label, result in results.items():
                epochs, hooks, wall = timed_run(label == "default plugins", samples, args.epochs, Path(output))
                result["epochs"] += epochs
                result["hooks"] += hooks
                result["runs"].append(wall)
                print(
                    f"repeat {repeat + 1}/{repeats}  {label:<16} epochs {', '.join(f'{t:.2f}' for t in epochs)} s  in "
                    f"hooks {', '.join(f'{t:.3f}' for t in hooks)} s  run {wall:.1f} s",
                    flush=True,
                )
    base, full = (statistics.median(result["epochs"]) for result in results.values())
    print(f"\n{samples:,} samples per epoch, {len(results['no plugins']['epochs'])} timed epochs each, interleaved\n")
    print(
        "| plugins | median epoch (s) | min-max (s) | in epoch hooks (s, median) | share of the epoch | median run "
        "(s) |"
    )
    print("|---|---|---|---|---|---|")
    for label, result in results.items():
        epochs, hooks = result["epochs"], statistics.median(result["hooks"])
        print(
            f"| {label} | {statistics.median(epochs):.2f} | {min(epochs):.2f}-{max(epochs):.2f} | {hooks:.3f} | "
            f"{100 * hooks / statistics.median(epochs):.1f}% | {statistics.median(result['runs']):.1f} |"
        )
    print(f"\nepoch time ratio default/none: {full / base:.3f} ({100 * (full / base - 1):+.1f}%)")


if __name__ == "__main__":
    main()
