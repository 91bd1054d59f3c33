"""Tests for atomic file writes."""

from __future__ import annotations

import stat

import pytest

from framework.errors import TrainingFailed
from framework.files import write_atomic, write_json


def test_write_is_atomic_and_keeps_the_old_file_on_failure(tmp_path):
    """A failing write leaves the previous file intact and no temporary file behind."""
    target = write_json(tmp_path / "data.json", {"a": 1})
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # readable by others, like a plain write

    def broken(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(TrainingFailed, match="cannot write '.*data.json': disk full; the previous version is intact"):
        write_atomic(target, broken)
    assert target.read_text() == '{\n "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]


def test_temporary_name_keeps_the_suffixes(tmp_path):
    """The temporary file ends like the target (Keras checks for .keras and .weights.h5)."""
    seen = []
    write_atomic(tmp_path / "model.weights.h5", lambda path: (seen.append(path.name), path.write_bytes(b"x")))
    assert seen[0].endswith(".weights.h5") and seen[0].startswith(".model.weights.h5.")
