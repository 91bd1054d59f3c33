"""The seed CNN trained in PyTorch, the peer rows of benchmarks/throughput.py.

The same network (Conv2D 32 → Conv2D 64 → Dense 128 → Dense 10), Adam at 1e-3 and batches as
the Keras rows, eager or through ``torch.compile``, in float32 or under bfloat16 autocast, on the
CPU or a CUDA GPU. Needs the torch extra (``pip install -e '.[torch]'``: torch==2.13.0, the CPU
build on the project's machine); PyTorch is imported only when a row runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

Arrays = Callable[[int], tuple[np.ndarray, np.ndarray]]  # samples -> (images (n, 28, 28, 1) float32, labels (n,) int32)


def seed_cnn() -> torch.nn.Module:
    """The seed CNN in PyTorch, NCHW input (n, 1, 28, 28) float32, logits (n, 10)."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(24 * 24 * 64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def synchronize(device: torch.device) -> None:
    """Waits for the GPU's queued work, so that the clock reads finished steps (a no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pytorch(
    arrays: Arrays, gpu: bool, compiled: bool, batch_size: int, bfloat16: bool = False, channels_last: bool = False
) -> Callable[[int, int], float]:
    """A mode: seconds for `epochs` timed epochs of `samples` samples, after one untimed warm-up epoch.

    `gpu` trains on CUDA device 0 (the data copied there once), else on the CPU; `bfloat16` runs
    the forward pass and loss under ``torch.autocast(dtype=torch.bfloat16)`` (weights and Adam stay
    float32); `channels_last` stores the images and convolution weights NHWC.
    """

    def measure(samples: int, epochs: int) -> float:
        import torch

        device = torch.device("cuda" if gpu else "cpu")
        layout = torch.channels_last if channels_last else torch.contiguous_format
        x, y = arrays(samples)
        inputs = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout).to(device)
        labels = torch.from_numpy(y).long().to(device)
        torch.manual_seed(0)
        layers = seed_cnn().to(device, memory_format=layout)
        network = torch.compile(layers) if compiled else layers
        optimizer, loss_fn = torch.optim.Adam(layers.parameters(), lr=1e-3), torch.nn.CrossEntropyLoss()
        started = 0.0
        for epoch in range(epochs + 1):
            if epoch == 1:
                synchronize(device)
                started = time.perf_counter()
            for i in range(0, samples, batch_size):
                optimizer.zero_grad()
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
                    loss = loss_fn(network(inputs[i : i + batch_size]), labels[i : i + batch_size])
                loss.backward()
                optimizer.step()
        synchronize(device)
        return time.perf_counter() - started

    return measure
