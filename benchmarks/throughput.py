"""Training throughput of the seed CNN, measured side by side in one process.

Modes, all on the same Fashion-MNIST samples with the same seed:

1. ``tutorial``: the tutorial's loop as written (Python-list batches, eager tape step, last
   partial batch dropped);
2. ``fit``: plain ``model.compile(); model.fit()`` on NumPy arrays, as users run it;
3. ``fit, healthy``: the same Keras model and ``fit`` on Tapeline's tf.data pipeline, which
   avoids the autotune stall at every epoch's end (what ``fit`` does when nothing goes wrong);
4. ``tapeline``: Tapeline's Trainer through ``framework.train``, no plugins;
5. ``tapeline+plugins``: the same with the plugins of recipes/fashion_mnist.yaml (defaults:
   16 steps per call, the optimizer's update in XLA);
6. ``fastest``: batch 1024 with the optimizer's update in XLA (``jit_compile: optimizer``, which
   ``auto`` picks only for runs of 100 steps or more, and a short run here has fewer), plus the
   precision of ``training.precision: auto`` (mixed_float16 on a GPU, mixed_bfloat16 where the
   CPU has native bfloat16, AVX-512 BF16 or AMX; elsewhere bfloat16 is emulated and slower, so
   float32);
7. ``tapeline, batch 128, <precision>, XLA <off|optimizer|on>``: one row for each precision of
   ``--precision`` and each ``training.jit_compile`` of ``--xla`` (none unless asked for);
8. ``pytorch eager``, ``pytorch compile``, ``pytorch compile, batch 128`` and ``pytorch, batch
   256|1024, bfloat16 autocast``: the same network, Adam and batches in PyTorch
   (benchmarks/pytorch_peer.py), as peer rows, when PyTorch is installed
   (``pip install -e '.[torch]'``: the CPU build torch==2.13.0 on the project's machine).

Each mode trains one warm-up epoch (tracing), then `--epochs` timed epochs; repeats are
interleaved (1 2 3 4 5 1 2 3 4 5 ...). The table gives the median and min-max samples/s, each
mode's ratio to plain ``fit``, and GFLOP/s against a matmul peak measured in the same run, in
the row's precision. TensorFlow and PyTorch train on a GPU when TensorFlow sees one (``--device``).

    python benchmarks/throughput.py --quick     # 1 repeat, 3,200 samples, 1 timed epoch (under 3 minutes)
    python benchmarks/throughput.py             # 3 repeats, 12,800 samples, 2 timed epochs
    python benchmarks/throughput.py --device gpu --precision float32,mixed_float16 --xla off,on   # benchmarks/gpu.sh
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from interleave import cells, interleave
from pytorch_peer import pytorch

from framework import hookimpl
from framework.data.arrays import Arrays
from framework.data.catalog import fashion_mnist
from framework.data.pipelines import PipelineSettings, make_pipelines
from framework.model.networks import seed_cnn
from framework.recipe.loader import Component, load_recipe
from framework.runtime.precision import auto_precision, cpu_flags, cpu_model
from framework.training.lifecycle import train

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
    return (data.x_train[:samples] / 255.0).astype(np.float32), data.y_train[:samples].astype(np.int32)


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


def healthy_pipeline(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """Tapeline's training pipeline of images `x` and labels `y`: batch 32, in stored order, no autotune stall."""
    return make_pipelines(
        Arrays(x_train=x, y_train=y, x_test=x, y_test=y, source="benchmark"),
        PipelineSettings(batch_size=32, shuffle=False),
    ).train


def plain_fit(healthy: bool) -> Callable[[int, int], float]:
    """``compile()`` + ``fit()`` on NumPy arrays, or (`healthy`) on Tapeline's pipeline of them."""

    def measure(samples: int, epochs: int) -> float:
        x, y = arrays(samples)
        keras.utils.set_random_seed(0)
        model = seed_cnn((28, 28, 1), 10)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = KerasTimer()
        data = {"x": healthy_pipeline(x, y)} if healthy else {"x": x, "y": y, "batch_size": 32}
        model.fit(**data, epochs=epochs + 1, callbacks=[timer], verbose=0)
        return timer.seconds

    return measure


def tapeline(overrides: list[str], keep_plugins: bool) -> Callable[[int, int], float]:
    """A mode training recipes/fashion_mnist.yaml with `overrides`, with or without its plugins."""

    def measure(samples: int, epochs: int) -> float:
        with tempfile.TemporaryDirectory() as output:
            settings = [
                f"dataset.limit={samples}",
                "dataset.validation_split=0.0",
                f"training.epochs={epochs + 1}",
                f"training.output_dir={output}",
                "seed=0",
                "dataset.audit=off",  # the leakage audit reads the data once before training: not what is timed
            ]
            recipe = load_recipe(RECIPE, [*settings, *overrides])
            recipe.plugins = [p for p in recipe.plugins if keep_plugins and p.name != "early_stopping"] + [
                Component(TIMER)
            ]
            for plugin in recipe.plugins:  # no validation split here, so watch the training loss
                plugin.args.update({"monitor": "loss"} if plugin.name == "checkpoint" else {})
            keras.backend.clear_session()
            run = train(recipe)
            keras.mixed_precision.set_global_policy("float32")
            return run.plugins.get_plugin(TIMER).seconds

    return measure


# Adam's update of the 4.7 M weights, memory-bound, is paid once per step, so larger batches train faster: measured on
# the AVX-512 BF16 machine (12,800 samples, mixed_bfloat16) batch 128 2,517 samples/s, 256 3,064; on an Intel Xeon with
# AMX (10,240 samples, mixed_bfloat16, XLA update, 2026-12-04) 256 5,560, 512 6,585, 1024 7,232 (docs/benchmarks.md)
FASTEST_BATCH = 1024
XLA = {"off": "false", "optimizer": "optimizer", "on": "true"}  # --xla values -> training.jit_compile
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# PyTorch's bfloat16 rows run eager with NCHW images, its fastest way on both CPUs measured. 2026-11-30, AVX2 machine
# (no native bfloat16, so autocast is emulated), batch 128, 640 samples, one timed epoch, two short runs each,
# samples/s: eager NCHW 31 and 19, eager channels-last 25 and 16, torch.compile 23 in both layouts (fp32 eager at
# batch 128: 204). 2026-12-03, AMD EPYC with AVX-512 BF16, 12,800 samples, one timed epoch: batch 128 eager NCHW
# 1,458; batch 256 eager NCHW 1,787, channels-last 1,584, torch.compile 1,582.
TORCH_BFLOAT16 = {"compiled": False, "channels_last": False}


def torch_rows(gpu: bool) -> dict[str, Callable[[int, int], float]]:
    """PyTorch's rows when it is installed (and, for `gpu`, built with CUDA), else none."""
    if not importlib.util.find_spec("torch"):
        return {}
    import torch

    if gpu and not torch.cuda.is_available():
        print(f"PyTorch {torch.__version__} has no CUDA: its rows are left out")
        return {}
    return {
        "pytorch eager": pytorch(arrays, gpu, compiled=False, batch_size=32),
        "pytorch compile": pytorch(arrays, gpu, compiled=True, batch_size=32),
        "pytorch compile, batch 128": pytorch(arrays, gpu, compiled=True, batch_size=128),
        **{
            f"pytorch, batch {size}, bfloat16 autocast": pytorch(
                arrays, gpu, batch_size=size, bfloat16=True, **TORCH_BFLOAT16
            )
            for size in (256, FASTEST_BATCH)
        },
    }


def modes(
    gpu: bool, precisions: list[str], xla: list[str], with_pytorch: bool
) -> dict[str, Callable[[int, int], float]]:
    """The table's rows: the fixed ones, Tapeline at batch 128 for each of `precisions` × `xla`, and (`with_pytorch`)
    PyTorch's."""
    half = auto_precision(int(gpu), cpu_flags())
    fastest = [
        f"training.batch_size={FASTEST_BATCH}",
        "training.jit_compile=optimizer",
        *([f"training.precision={half}"] if half != "float32" else []),
    ]
    rows: dict[str, Callable[[int, int], float]] = {
        "tutorial": tutorial,
        "fit": plain_fit(healthy=False),
        "fit, healthy": plain_fit(healthy=True),
        "tapeline": tapeline([], keep_plugins=False),
        "tapeline+plugins": tapeline([], keep_plugins=True),
        f"fastest ({', '.join(fastest)})".replace("training.", ""): tapeline(fastest, keep_plugins=False),
    }
    for precision, jit in ((p, x) for p in precisions for x in xla):
        grid = ["training.batch_size=128", f"training.precision={precision}", f"training.jit_compile={XLA[jit]}"]
        rows[f"tapeline, batch 128, {precision}, XLA {jit}"] = tapeline(grid, keep_plugins=False)
    return rows | (torch_rows(gpu) if with_pytorch else {})


def use_device(name: str) -> bool:
    """Whether the run trains on a GPU: ``cpu`` hides the GPUs from TensorFlow, ``gpu`` needs one, ``auto`` takes one if
    any.

    Raises SystemExit for ``gpu`` when TensorFlow sees none. GPU memory grows as needed, so that
    PyTorch's rows find room beside TensorFlow's.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if name == "gpu" and not gpus:
        raise SystemExit(
            "--device gpu: TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty; on NVIDIA: pip "
            "install 'tensorflow[and-cuda]')"
        )
    if name == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return False
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return bool(gpus)


def device_name(gpu: bool) -> str:
    """``GPU (<name>)`` for TensorFlow's first GPU, or ``CPU (<n> cores)``."""
    if not gpu:
        return f"CPU ({os.cpu_count()} cores)"
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return f"GPU ({details.get('device_name', 'unknown')})"


def matmul_peak(dtype: tf.DType, size: int, repeats: int = 10) -> float:
    """Measured GFLOP/s of a size² matmul in `dtype` (only a scalar comes back from the device each time)."""
    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda m: tf.reduce_sum(tf.matmul(m, m)))
    product(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        product(a).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16")


def machine_line(gpu: bool) -> str:
    """The processor, the vector and matrix flags that decide the kernels, and what ``precision: auto`` picks."""
    flags = cpu_flags()
    has = [flag for flag in SIMD_FLAGS if flag in flags]
    missing = [flag for flag in SIMD_FLAGS if flag not in flags]
    return (
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; flags {' '.join(has) or 'none'} (not: {' '.join(missing)}); "
        f"precision auto: {auto_precision(int(gpu), flags)}"
    )


def row_dtype(mode: str) -> tf.DType:
    """The matmul dtype a row computes in, by its name: bfloat16, float16 or float32."""
    return tf.bfloat16 if "bfloat16" in mode else tf.float16 if "float16" in mode else tf.float32


def listed(allowed: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of `allowed` values."""

    def parse(text: str) -> list[str]:
        values = [value.strip() for value in text.split(",") if value.strip()]
        for value in values:
            if value not in allowed:
                raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(allowed)}")
        return values

    return parse


def arguments() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat of 3,200 samples, 1 timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12_800)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="where TensorFlow and PyTorch train (default: a GPU if TensorFlow sees one)",
    )
    parser.add_argument(
        "--precision",
        type=listed(PRECISIONS),
        default=[],
        metavar="P[,P]",
        help=f"add Tapeline rows at batch 128 in these precisions ({', '.join(PRECISIONS)})",
    )
    parser.add_argument(
        "--xla",
        type=listed(XLA),
        default=["optimizer"],
        metavar="X[,X]",
        help="training.jit_compile of those rows: off, optimizer (default) or on (the whole step)",
    )
    parser.add_argument("--no-pytorch", action="store_true", help="leave PyTorch's rows out even where it is installed")
    parser.add_argument(
        "--matmul-size",
        type=int,
        metavar="N",
        help="side of the matmul measuring the peak (default 2048 on the CPU, 8192 on a GPU)",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    repeats, samples, epochs = (1, 3_200, 1) if args.quick else (args.repeats, args.samples, args.epochs)
    gpu = use_device(args.device)
    measures = {
        mode: (lambda measure=measure: samples * epochs / measure(samples, epochs))
        for mode, measure in modes(gpu, args.precision, args.xla, not args.no_pytorch).items()
    }
    rates = interleave(measures, repeats, "samples/s")
    size = args.matmul_size or (8192 if gpu else 2048)
    peaks = {dtype: matmul_peak(dtype, size) for dtype in {tf.float32, tf.bfloat16, *map(row_dtype, rates)}}
    base = statistics.median(rates["fit"])
    measured = ", ".join(
        f"{peak:.0f} {name}"
        for dtype, name in ((tf.float32, "fp32"), (tf.bfloat16, "bf16"), (tf.float16, "fp16"))
        if (peak := peaks.get(dtype))
    )
    print(
        f"\n{samples:,} samples, {epochs} timed epoch(s) per run, {repeats} interleaved repeat(s) on "
        f"{device_name(gpu)}; matmul peak {measured} GFLOP/s\n"
    )
    print(machine_line(gpu) + "\n")
    print("| mode | computes in | samples/s (median) | min-max | vs plain fit | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|")
    for mode, values in rates.items():
        median = statistics.median(values)
        gflops = median * TRAIN_FLOPS_PER_SAMPLE / 1e9
        print(
            f"| {mode} | {row_dtype(mode).name} | {cells(values, 0)} | {median / base:.2f}x | {gflops:.0f} | "
            f"{gflops / peaks[row_dtype(mode)]:.0%} |"
        )


if __name__ == "__main__":
    main()
