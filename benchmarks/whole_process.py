"""Wall time of whole processes: `tapeline train` against a plain compile/fit script and the tutorial's loop doing the
same.

All three train the seed CNN for one epoch on the first `--samples` Fashion-MNIST training images
(batch 32, Adam) and then evaluate on the 10,000 test images (in batches of 256 in the plain script
and Tapeline, the recipe's `training.eval_batch_size`; of 32 in the tutorial's loop, as written),
each in a fresh Python process started from the shell, so start-up, imports, data loading and
tracing are all counted.
Repeats are interleaved (A B A B ...); the table gives medians, min-max and the ratio.

    python benchmarks/whole_process.py               # 60,000 samples, 2 repeats
    python benchmarks/whole_process.py --samples 6400 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from interleave import cells, interleave

ROOT = Path(__file__).parent.parent
PLAIN_SCRIPT = """\
import gzip, sys
import numpy as np, keras

def idx(name):
    raw = gzip.decompress(open(f"/usr/share/datasets/fashion-mnist/{name}.gz", "rb").read())
    return np.frombuffer(raw, np.uint8, offset=16 if "images" in name else 8)

samples = int(sys.argv[1])
x_train = (idx("train-images-idx3-ubyte").reshape(-1, 28, 28, 1)[:samples] / 255.0).astype("float32")
y_train = idx("train-labels-idx1-ubyte")[:samples]
x_test = (idx("t10k-images-idx3-ubyte").reshape(-1, 28, 28, 1) / 255.0).astype("float32")
y_test = idx("t10k-labels-idx1-ubyte")
keras.utils.set_random_seed(42)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(32, 3, activation="relu"),
    keras.layers.Conv2D(64, 3, activation="relu"),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
TRAIN
"""
FIT = """\
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
print(model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True))
"""
# the tutorial's hand-written loop as written: Python-list batches, an eager GradientTape step, then a test pass
TUTORIAL = """\
import tensorflow as tf
optimizer, loss_fn = keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy()
for i in range(0, len(x_train) - 31, 32):
    with tf.GradientTape() as tape:
        loss = loss_fn(y_train[i : i + 32], model(x_train[i : i + 32], training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
predicted = np.concatenate([model(x_test[i : i + 32]).numpy().argmax(1) for i in range(0, len(x_test), 32)])
print({"accuracy": float((predicted == y_test).mean())})
"""


def timed(command: list[str]) -> float:
    """Seconds `command` takes, or `SystemExit` with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scripts = {name: Path(folder) / f"{name}.py" for name in ("plain_fit", "tutorial")}
        scripts["plain_fit"].write_text(PLAIN_SCRIPT.replace("TRAIN\n", FIT))
        scripts["tutorial"].write_text(PLAIN_SCRIPT.replace("TRAIN\n", TUTORIAL))
        overrides = [
            f"dataset.limit={args.samples}",
            "dataset.validation_split=0.0",
            "training.epochs=1",
            f"training.output_dir={folder}",
            "plugins=[evaluation]",
        ]
        commands = {
            "tutorial loop script": [sys.executable, str(scripts["tutorial"]), str(args.samples)],
            "plain compile/fit script": [sys.executable, str(scripts["plain_fit"]), str(args.samples)],
            "tapeline train": [
                sys.executable,
                "-m",
                "framework",
                "train",
                "recipes/fashion_mnist.yaml",
                *(a for o in overrides for a in ("--set", o)),
            ],
        }
        seconds = interleave(
            {name: (lambda command=command: timed(command)) for name, command in commands.items()}, args.repeats, "s"
        )
    base = statistics.median(seconds["plain compile/fit script"])
    print(
        f"\none epoch of {args.samples:,} samples + test evaluation, whole process, {args.repeats} interleaved "
        "repeat(s)\n"
    )
    print("| process | seconds (median) | min-max | speed-up vs plain script |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        print(f"| {name} | {cells(values, 1)} | {base / statistics.median(values):.2f}x |")


if __name__ == "__main__":
    main()
