"""Fashion-MNIST from a folder of PNG files against the same recipe on the in-memory IDX arrays.

Trains `recipes/fashion_mnist.yaml` (IDX files, in memory) and `recipes/fashion_mnist_png.yaml`
(the same recipe on `image_folder`, decoding PNGs as training goes) one after the other, each
in a fresh `tapeline train` process with the same overrides, and prints test accuracy and
training samples per second (training samples × epochs ÷ the run's training seconds from
run.json, validation passes included) side by side, with their ratio. Writes the PNG folder
first when it is missing (about a minute).

    python benchmarks/image_folder.py                         # the recipes as shipped (5 epochs)
    python benchmarks/image_folder.py --set training.epochs=2 --set dataset.cache=memory
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent.parent
PNG_FOLDER = ROOT / "data" / "fashion_mnist_png"


def train(recipe: str, overrides: list[str], output: Path) -> dict[str, float]:
    """Trains `recipe` in a fresh process; its test accuracy, epochs and training samples/s."""
    command = [
        sys.executable,
        "-m",
        "framework",
        "train",
        str(ROOT / "recipes" / recipe),
        "--output",
        str(output),
        "--overwrite",
    ]
    subprocess.run(
        [*command, *(a for o in overrides for a in ("--set", o))], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    summary = json.loads((output / "run.json").read_text())
    accuracy = json.loads((output / "evaluation.json").read_text())["accuracy"]
    return {
        "accuracy": accuracy,
        "epochs": summary["epochs"],
        "seconds": summary["seconds"],
        "train_samples": summary["samples"]["train"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for both recipes")
    args = parser.parse_args()
    if not (PNG_FOLDER / "test").is_dir():
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "fashion_mnist_png.py"), "--output", str(PNG_FOLDER)], check=True
        )
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            name: train(recipe, args.set, Path(tmp) / name)
            for name, recipe in (("IDX arrays", "fashion_mnist.yaml"), ("PNG folder", "fashion_mnist_png.yaml"))
        }
    print(f"{'dataset':<12} {'test accuracy':>13} {'epochs':>6} {'train samples/s':>16}")
    for name, row in rows.items():
        row["rate"] = row["train_samples"] * row["epochs"] / row["seconds"]
        print(f"{name:<12} {row['accuracy']:>13.4f} {row['epochs']:>6} {row['rate']:>16,.0f}")
    idx, png = rows["IDX arrays"], rows["PNG folder"]
    print(f"PNG/IDX: accuracy {png['accuracy'] - idx['accuracy']:+.4f}, samples/s {png['rate'] / idx['rate']:.2f}x")


if __name__ == "__main__":
    main()
