"""Tests for docs/custom_steps.md: its Distiller runs as written, with checkpoints and resume unchanged."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train

DOC = Path(__file__).parents[2] / "docs" / "custom_steps.md"


@pytest.fixture
def distill_module(tmp_path, monkeypatch):
    """docs/custom_steps.md's distill.py, written to an importable folder."""
    code = re.search(r"```python\n# distill.py\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / "distill.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("distill", None)


def test_the_documented_distiller_trains_and_resumes(tiny_recipe, distill_module, tmp_path):
    """A teacher run's best.keras teaches a Distiller student, which resumes after a crash to the same history
    length."""
    teacher = train(
        load_recipe(tiny_recipe("plugins: [checkpoint]\n"), ["training.epochs=1", "dataset.validation_split=0.25"])
    )
    best = teacher.directory / "checkpoints" / "best.keras"
    student = [
        f"trainer={{name: 'distill:Distiller', args: {{teacher: '{best}', temperature: 2.0}}}}",
        "training.epochs=2",
    ]
    with pytest.raises(Exception, match="crash"):
        train(
            load_recipe(
                tiny_recipe(
                    "plugins: [{name: 'plugin_helpers:CrashOnce', args: {epoch: 1, marker: "
                    f"'{tmp_path / 'marker'}'}}}}]\n"
                ),
                student,
            )
        )
    crashed = next((tmp_path / "runs" / "tiny").glob("version_1"))
    run = train(load_recipe(crashed / "recipe.yaml"), directory=crashed, resume=True)
    assert type(run.trainer).__name__ == "Distiller" and [row["epoch"] for row in run.history] == [1, 2]
