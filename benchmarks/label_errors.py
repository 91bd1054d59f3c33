"""Wrong labels found by the error report: a Fashion-MNIST PNG subset with training images moved to a wrong class.

Writes the first `--train` training and `--test` test images of Fashion-MNIST as PNG folders
(`benchmarks/fashion_mnist_png.py`'s layout), moves `--flipped` training images (drawn at
random, seeded) each into the folder of another class drawn at random, trains
`recipes/fashion_mnist_png.yaml` on that folder in a fresh `tapeline train` process with the
evaluation plugin reporting the training split's errors (2 epochs unless `--set` says otherwise: a
longer run learns the wrong labels by heart), and prints how many of the moved files
the training split's `--top` highest-loss rows of ``errors.csv`` name.

    python benchmarks/label_errors.py                      # 10,000 train, 500 test, 10 flipped, top 30
    python benchmarks/label_errors.py --set training.epochs=5
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from fashion_mnist_png import folder_name, write_split  # the script folder is on sys.path

from framework.data.catalog import fashion_mnist

ROOT = Path(__file__).parent.parent


def flip(train: Path, class_names: list[str], labels: np.ndarray, count: int, seed: int) -> list[str]:
    """Moves `count` training images into another class's folder; their new paths."""
    rng = np.random.default_rng(seed)
    width = len(str(len(labels) - 1))
    moved = []
    for index in rng.choice(len(labels), count, replace=False):
        label = int(labels[index])
        wrong = int(rng.choice([c for c in range(len(class_names)) if c != label]))
        source = train / folder_name(label, class_names[label]) / f"{index:0{width}d}.png"
        target = train / folder_name(wrong, class_names[wrong]) / f"flipped_{source.name}"
        source.rename(target)
        moved.append(str(target))
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=10000, help="training images (default 10000)")
    parser.add_argument("--test", type=int, default=500, help="test images (default 500)")
    parser.add_argument("--flipped", type=int, default=10, help="training images moved to a wrong class (10)")
    parser.add_argument("--top", type=int, default=30, help="rows of the training split's report (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    arrays = fashion_mnist()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_split(
            arrays.x_train[: args.train, ..., 0], arrays.y_train[: args.train], arrays.class_names, root / "train"
        )
        write_split(arrays.x_test[: args.test, ..., 0], arrays.y_test[: args.test], arrays.class_names, root / "test")
        moved = flip(root / "train", arrays.class_names, arrays.y_train[: args.train], args.flipped, args.seed)
        errors = f"{{splits: [train], top: {args.top}}}"
        overrides = [
            f"dataset.args.train={root / 'train'}",
            f"dataset.args.test={root / 'test'}",
            f"plugins=[{{name: evaluation, args: {{errors: {errors}}}}}, console]",
            "dataset.validation_split=0",
            "training.epochs=2",
            *args.overrides,
        ]
        command = [sys.executable, "-m", "framework", "train", str(ROOT / "recipes" / "fashion_mnist_png.yaml")]
        command += [f"--set={o}" for o in overrides] + ["--output", str(root / "run")]
        subprocess.run(command, check=True)
        with open(root / "run" / "errors.csv") as stream:
            rows = [r for r in csv.DictReader(stream) if r["split"] == "train" and int(r["rank"]) <= args.top]
        found = [r for r in rows if r["file"] in moved]
        print(f"{len(found)} of the {len(moved)} flipped training images are in the training split's top {args.top}:")
        for row in found:
            print(f"  rank {row['rank']:>3}  {row['label']} -> {row['prediction']}  {Path(row['file']).name}")


if __name__ == "__main__":
    main()
