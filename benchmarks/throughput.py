"""Training throughput of the seed CNN, measured side by side in one process.

Modes, all on the same Fashion-MNIST samples with the same seed:

1. ``tutorial``: the tutorial's loop as written (Python-list batches, eager tape step, last
   partial batch dropped);
2. ``fit``: plain ``model.compile(); model.fit()`` on NumPy arrays, as users run it;
3. ``fit, healthy``: the same Keras model and ``fit`` on Tapeline's tf.data pipeline, which
   avoids the autotune stall at every epoch's end (what ``fit`` does when nothing goes wrong);
4. ``tapeline``: Tapeline's Trainer through ``framework.run.train``, no plugins;
5. ``tapeline+plugins``: the same with the plugins of recipes/fashion_mnist.yaml (defaults:
   16 steps per call, the optimizer's update in XLA);
6. ``fastest``: batch 128 with the same defaults, plus the mixed_bfloat16 policy where the CPU
   has native bfloat16 (AVX-512 BF16 or AMX; elsewhere it is emulated and slower);
7. ``pytorch eager``, ``pytorch compile`` and ``pytorch compile, batch 128``: the same network,
   Adam and batches in PyTorch, as peer rows, when PyTorch is installed
   (``pip install -e '.[torch]'``: the CPU build torch==2.13.0).

Each mode trains one warm-up epoch (tracing), then `--epochs` timed epochs; repeats are
interleaved (1 2 3 4 5 1 2 3 4 5 ...). The table gives the median and min-max samples/s, each
mode's ratio to plain ``fit``, and GFLOP/s against a matmul peak measured in the same run.

    python benchmarks/throughput.py --quick     # 1 repeat, 3,200 samples, 1 timed epoch (under 3 minutes)
    python benchmarks/throughput.py             # 3 repeats, 12,800 samples, 2 timed epochs
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from framework import hookimpl
from interleave import cells, interleave
from framework.datasets import fashion_mnist
from framework.pipelines import pipeline
from framework.models import seed_cnn
from framework.recipe import Component, load_recipe
from framework.run import train

RECIPE = Path(__file__).parent.parent / "recipes" / "fashion_mnist.yaml"
TIMER = "__main__:Timer"
TRAIN_FLOPS_PER_SAMPLE = 3 * 31.0e6  # forward ≈ 31 MFLOP; backward ≈ 2x forward


class Timer:
    """Times training from the start of the second epoch to the end of training (first is warm-up)."""

    def __init__(self) -> None:
        self.started = self.seconds = 0.0

    @hookimpl(tryfirst=True)
    def on_epoch_begin(self, epoch: int) -> None:
        if epoch == 1:
            self.started = time.perf_counter()

    @hookimpl(tryfirst=True)
    def on_train_end(self) -> None:
        self.seconds = time.perf_counter() - self.started


class KerasTimer(keras.callbacks.Callback):
    """The same measurement for plain ``fit``."""

    def __init__(self) -> None:
        super().__init__()
        self.started = self.seconds = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            self.started = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.seconds = time.perf_counter() - self.started


def arrays(samples: int) -> tuple[np.ndarray, np.ndarray]:
    data = fashion_mnist()
    return (data.x_train[:samples] / 255.0).astype(np.float32)[..., None], data.y_train[:samples].astype(np.int32)


def tutorial(samples: int, epochs: int) -> float:
    """The tutorial's hand-written loop; returns seconds for `epochs` epochs after a warm-up one."""
    x, y = arrays(samples)
    keras.utils.set_random_seed(0)
    model, optimizer = seed_cnn((28, 28, 1), 10), keras.optimizers.Adam()
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x) - 31, 32)]
    started = 0.0
    for epoch in range(epochs + 1):
        started = time.perf_counter() if epoch == 1 else started
        for xb, yb in batches:
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return time.perf_counter() - started


def plain_fit(healthy: bool) -> Callable[[int, int], float]:
    """``compile()`` + ``fit()`` on NumPy arrays, or (`healthy`) on Tapeline's pipeline of them."""

    def measure(samples: int, epochs: int) -> float:
        x, y = arrays(samples)
        keras.utils.set_random_seed(0)
        model = seed_cnn((28, 28, 1), 10)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = KerasTimer()
        data = {"x": pipeline(x, y, 32)} if healthy else {"x": x, "y": y, "batch_size": 32}
        model.fit(**data, epochs=epochs + 1, callbacks=[timer], verbose=0)
        return timer.seconds

    return measure


def pytorch(compiled: bool, batch_size: int) -> Callable[[int, int], float]:
    """The seed CNN trained in PyTorch, eager or through ``torch.compile``."""

    def measure(samples: int, epochs: int) -> float:
        import torch

        x, y = arrays(samples)
        inputs, labels = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y).long()
        torch.manual_seed(0)
        layers = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.Flatten(),
            torch.nn.Linear(24 * 24 * 64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10),
        )
        network = torch.compile(layers) if compiled else layers
        optimizer, loss_fn = torch.optim.Adam(layers.parameters(), lr=1e-3), torch.nn.CrossEntropyLoss()
        started = 0.0
        for epoch in range(epochs + 1):
            started = time.perf_counter() if epoch == 1 else started
            for i in range(0, samples, batch_size):
                optimizer.zero_grad()
                loss_fn(network(inputs[i : i + batch_size]), labels[i : i + batch_size]).backward()
                optimizer.step()
        return time.perf_counter() - started

    return measure


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def tapeline(overrides: list[str], keep_plugins: bool) -> Callable[[int, int], float]:
    """A mode training recipes/fashion_mnist.yaml with `overrides`, with or without its plugins."""

    def measure(samples: int, epochs: int) -> float:
        with tempfile.TemporaryDirectory() as output:
            settings = [f"dataset.limit={samples}", "dataset.validation_split=0.0", f"training.epochs={epochs + 1}", f"training.output_dir={output}", "seed=0"]
            recipe = load_recipe(RECIPE, [*settings, *overrides])
            recipe.plugins = [p for p in recipe.plugins if keep_plugins and p.name != "early_stopping"] + [Component(TIMER)]
            for plugin in recipe.plugins:  # no validation split here, so watch the training loss
                plugin.args.update({"monitor": "loss"} if plugin.name == "checkpoint" else {})
            keras.backend.clear_session()
            run = train(recipe)
            keras.mixed_precision.set_global_policy("float32")
            return run.plugins.get_plugin(TIMER).seconds

    return measure


FASTEST = ["training.batch_size=128", *(["training.precision=mixed_bfloat16"] if native_bfloat16() else [])]
MODES: dict[str, Callable[[int, int], float]] = {
    "tutorial": tutorial,
    "fit": plain_fit(healthy=False),
    "fit, healthy": plain_fit(healthy=True),
    "tapeline": tapeline([], keep_plugins=False),
    "tapeline+plugins": tapeline([], keep_plugins=True),
    f"fastest ({', '.join(FASTEST)})".replace("training.", ""): tapeline(FASTEST, keep_plugins=False),
}
if importlib.util.find_spec("torch"):
    MODES |= {"pytorch eager": pytorch(False, 32), "pytorch compile": pytorch(True, 32), "pytorch compile, batch 128": pytorch(True, 128)}


def matmul_peak(dtype: tf.DType, size: int = 2048, repeats: int = 10) -> float:
    """Measured GFLOP/s of a size² matmul in `dtype`."""
    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda m: tf.matmul(m, m))
    product(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        product(a).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat of 3,200 samples, 1 timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    repeats, samples, epochs = (1, 3_200, 1) if args.quick else (args.repeats, args.samples, args.epochs)
    measures = {mode: (lambda measure=measure: samples * epochs / measure(samples, epochs)) for mode, measure in MODES.items()}
    rates = interleave(measures, repeats, "samples/s")
    peak32, peak16 = matmul_peak(tf.float32), matmul_peak(tf.bfloat16)
    base = statistics.median(rates["fit"])
    print(f"\n{samples:,} samples, {epochs} timed epoch(s) per run, {repeats} interleaved repeat(s); matmul peak {peak32:.0f} GFLOP/s fp32, {peak16:.0f} bf16\n")
    print("| mode | samples/s (median) | min-max | vs plain fit | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|")
    for mode, values in rates.items():
        median = statistics.median(values)
        gflops = median * TRAIN_FLOPS_PER_SAMPLE / 1e9
        peak = peak16 if "bfloat16" in mode else peak32
        print(f"| {mode} | {cells(values, 0)} | {median / base:.2f}x | {gflops:.0f} | {gflops / peak:.0%} |")


if __name__ == "__main__":
    main()
