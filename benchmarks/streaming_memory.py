"""Peak memory of training over a TFRecord dataset as the dataset grows 4x.

Writes Fashion-MNIST's training images as TFRecord shards (float32 pixels, 10,000 records a
shard) twice: once (`--samples`, default 30,000) and four times as many (the images repeated),
then trains one epoch on each in a fresh `tapeline train` process (the `tfrecord` dataset, an
MLP, batch 128, shuffle buffer of 10,000 samples, no cache) and prints each process's peak
resident memory (``ru_maxrss`` from ``os.wait4``) side by side, with the growth.

    python benchmarks/streaming_memory.py
    python benchmarks/streaming_memory.py --samples 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parent.parent
SHARD = 10_000
RECIPE = """\
name: streaming_memory
seed: 0
dataset:
  name: tfrecord
  args:
    train: {folder}/train-*.tfrecord
    test: {folder}/test-*.tfrecord
    features: {{pixels: {{dtype: float32, shape: [28, 28, 1]}}, label: {{dtype: int64}}}}
    label: label
  preprocess: []
model: {{name: mlp, args: {{units: [64]}}}}
training: {{epochs: 1, batch_size: 128}}
"""


def write_shards(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str) -> None:
    """`images` (uint8, scaled to float32 [0, 1]) and `labels` as TFRecord shards of `SHARD` records."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(images), SHARD):
        with tf.io.TFRecordWriter(str(folder / f"{prefix}-{start // SHARD:05d}.tfrecord")) as writer:
            for image, label in zip(images[start : start + SHARD], labels[start : start + SHARD]):
                features = {
                    "pixels": tf.train.Feature(
                        float_list=tf.train.FloatList(value=(image.reshape(-1) / 255.0).tolist())
                    ),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def peak_rss(folder: Path) -> tuple[float, float]:
    """Peak resident memory (MiB) and wall seconds of one `tapeline train` epoch over `folder`."""
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(folder=folder))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "train", str(recipe), "--output", str(folder / "run")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training over {folder} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--samples", type=int, default=30_000, help="training samples of the smaller dataset (default 30,000)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from framework.data.catalog import fashion_mnist

    arrays = fashion_mnist()
    x, y = arrays.x_train[: args.samples], arrays.y_train[: args.samples]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for times in (1, 4):
            folder = Path(tmp) / f"x{times}"
            write_shards(folder, np.concatenate([x] * times), np.concatenate([y] * times), "train")
            write_shards(folder, arrays.x_test[:2000], arrays.y_test[:2000], "test")
            size = sum(f.stat().st_size for f in folder.glob("train-*")) / 2**20
            rows.append((times * len(x), size, *peak_rss(folder)))
    print(f"{'train samples':>13} {'files MiB':>10} {'peak RSS MiB':>13} {'seconds':>8}")
    for samples, size, rss, seconds in rows:
        print(f"{samples:>13,} {size:>10,.0f} {rss:>13,.0f} {seconds:>8.1f}")
    print(f"4x the data: peak RSS {rows[1][2] / rows[0][2] - 1:+.1%}")


if __name__ == "__main__":
    main()
