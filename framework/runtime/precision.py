"""`training.precision: auto`: the fastest Keras dtype policy this machine computes natively.

- a GPU: ``mixed_float16`` (NVIDIA tensor cores; Keras's mixed-precision guide, keras.io/guides/mixed_precision);
- a CPU with native bfloat16 arithmetic, AVX-512 BF16 or AMX (``avx512_bf16``/``amx_bf16`` in
  ``/proc/cpuinfo``): ``mixed_bfloat16``, which oneDNN runs at about twice the float32 matmul
  rate (measured on the project's AVX-512 BF16 machine, docs/benchmarks.md);
- anything else: ``float32`` (bfloat16 is emulated there and slower than float32).
"""

from __future__ import annotations

from pathlib import Path

CPU_INFO = Path("/proc/cpuinfo")
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpu_info: Path = CPU_INFO) -> set[str]:
    """The CPU feature flags the Linux kernel lists; empty where there is no ``/proc/cpuinfo``."""
    try:
        text = cpu_info.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}


def cpu_model(cpu_info: Path = CPU_INFO) -> str:
    """The CPU's model name as the Linux kernel lists it (``unknown CPU`` where there is no ``/proc/cpuinfo``)."""
    try:
        lines = cpu_info.read_text().splitlines()
    except OSError:
        return "unknown CPU"
    return next((line.partition(":")[2].strip() for line in lines if line.startswith("model name")), "unknown CPU")


def auto_precision(gpus: int, flags: set[str]) -> str:
    """The Keras dtype policy for `gpus` visible GPUs and the CPU feature `flags` (see the module docstring)."""
    if gpus:
        return "mixed_float16"
    if flags & set(NATIVE_BFLOAT16_FLAGS):
        return "mixed_bfloat16"
    return "float32"


def resolve_precision(precision: str) -> str:
    """`precision` itself, or for ``auto`` the policy this machine computes fastest (imports TensorFlow)."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    return auto_precision(len(tf.config.list_physical_devices("GPU")), cpu_flags())
