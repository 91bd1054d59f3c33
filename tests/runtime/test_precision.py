"""Tests for `training.precision: auto`."""

from __future__ import annotations

import json

from framework.recipe.loader import load_recipe
from framework.runtime.precision import auto_precision, cpu_flags, cpu_model, resolve_precision
from framework.training.lifecycle import train


def test_auto_picks_what_the_machine_computes_natively():
    """A GPU gives mixed_float16, native bfloat16 on the CPU mixed_bfloat16, anything else float32."""
    assert auto_precision(1, {"avx512_bf16"}) == "mixed_float16"
    assert auto_precision(0, {"avx2", "amx_bf16"}) == "mixed_bfloat16"
    assert auto_precision(0, {"avx512_bf16"}) == "mixed_bfloat16"
    assert auto_precision(0, {"avx2", "fma"}) == "float32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    """Flags come from the `flags` lines of /proc/cpuinfo; a missing file gives none."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\nbugs\t\t: spectre\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()
    assert resolve_precision("mixed_float16") == "mixed_float16"


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    """The model comes from the first `model name` line; a missing file or line gives 'unknown CPU'."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: avx2\n")
    assert cpu_model(info) == "AMD EPYC 9R14"
    info.write_text("processor\t: 0\n")
    assert cpu_model(info) == cpu_model(tmp_path / "missing") == "unknown CPU"


def test_auto_precision_trains_and_is_recorded(tiny_recipe):
    """A run with precision auto trains under the policy this machine gets, which run.json records."""
    run = train(load_recipe(tiny_recipe(), ["training.precision=auto", "training.epochs=1"]))
    summary = json.loads((run.directory / "run.json").read_text())
    assert summary["precision"] == resolve_precision("auto") and summary["precision"] in (
        "float32",
        "mixed_bfloat16",
        "mixed_float16",
    )
