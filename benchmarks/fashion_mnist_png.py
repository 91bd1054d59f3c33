"""Writes Fashion-MNIST as a folder of PNG images, one sub-folder per class, for the `image_folder` dataset.

    python benchmarks/fashion_mnist_png.py --output /tmp/fashion_mnist_png
    python benchmarks/fashion_mnist_png.py --output /tmp/fashion_mnist_png_small --limit 200

Reads Debian's `dataset-fashion-mnist` IDX files (``/usr/share/datasets/fashion-mnist/``) and
writes ``OUTPUT/{train,test}/<id>_<class name>/<index>.png`` (28x28 grayscale). The class id
leads each folder name so that the sorted folder names, and so `image_folder`'s class ids, are
those of the IDX files; ``/`` and spaces in class names become ``-`` and ``_``. Indices are
zero-padded, so sorted file names follow the IDX files' order. `--limit N` writes only the first
N images of each split. Images that exist already are rewritten. Needs Pillow (installed with
matplotlib: `pip install 'tapeline[plots]'`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from framework.data.catalog import fashion_mnist


def folder_name(class_id: int, name: str) -> str:
    """``0_T-shirt-top`` for class 0, "T-shirt/top": the id first, so sorting keeps the ids."""
    return f"{class_id}_{name.replace('/', '-').replace(' ', '_')}"


def write_split(images: np.ndarray, labels: np.ndarray, class_names: list[str], folder: Path) -> None:
    """Each image as ``folder/<id>_<class name>/<index>.png``."""
    classes = [folder / folder_name(i, name) for i, name in enumerate(class_names)]
    for directory in classes:
        directory.mkdir(parents=True, exist_ok=True)
    width = len(str(len(images) - 1))
    for index, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(classes[label] / f"{index:0{width}d}.png", optimize=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path, help="folder to write train/ and test/ into")
    parser.add_argument("--limit", type=int, default=None, help="write only the first N images of each split")
    args = parser.parse_args()
    arrays = fashion_mnist()
    started = time.perf_counter()
    for split, images, labels in (
        ("train", arrays.x_train[..., 0], arrays.y_train),
        ("test", arrays.x_test[..., 0], arrays.y_test),
    ):
        write_split(images[: args.limit], labels[: args.limit], arrays.class_names, args.output / split)
        print(f"{split}: {len(images[: args.limit]):,} images in {args.output / split}", flush=True)
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
