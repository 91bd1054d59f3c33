"""Shared fixtures: tiny recipes on generated data, written to temporary folders."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import keras
import pytest

from framework.runtime.compat import set_op_determinism

TINY_RECIPE = """\
name: tiny
seed: 7
dataset:
  name: synthetic
  args: {num_train: 96, num_test: 32, shape: [8, 8], num_classes: 3}
model:
  name: seed_cnn
  args: {filters: [2, 4], units: 8}
training:
  epochs: 2
  batch_size: 16
  output_dir: {output_dir}
  jit_compile: false  # as `auto` is for 12 steps, and for longer runs too; tests that need XLA set it
"""


@pytest.fixture(autouse=True)
def _fresh_keras() -> None:
    """Each test starts with Keras's default dtype policy, op determinism off (a `build_run` that failed may have
    turned it on) and a clear session."""
    yield
    keras.mixed_precision.set_global_policy("float32")
    set_op_determinism(False)
    keras.backend.clear_session()


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """Writes YAML text (dedented) to a file in the test's folder and returns its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def tiny_recipe(write_recipe: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """Writes the tiny synthetic recipe plus `extra` YAML lines; runs go under tmp_path/runs."""

    def write(extra: str = "") -> Path:
        return write_recipe(TINY_RECIPE.replace("{output_dir}", str(tmp_path / "runs")) + textwrap.dedent(extra))

    return write


@pytest.fixture(scope="module")
def module_tiny_recipe(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`tiny_recipe` for module-scoped fixtures that train once for several tests; runs go under <module
    folder>/runs."""
    folder = tmp_path_factory.mktemp("module")

    def write(extra: str = "", name: str = "recipe.yaml") -> Path:
        path = folder / name
        path.write_text(TINY_RECIPE.replace("{output_dir}", str(folder / "runs")) + textwrap.dedent(extra))
        return path

    return write
