"""Writing run files atomically: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework.errors import TrainingFailed

UMASK = os.umask(0)
os.umask(UMASK)


def write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """Calls ``write(temporary_path)`` then renames the result onto `path` in one step.

    The temporary file sits beside `path` (same file system, so the rename is atomic) and
    keeps its suffix (Keras insists on ``.keras``). It is removed if `write` fails.

    Args:
        path: the file to write; its folder is created if needed.
        write: writes the file's content to the path it is given.

    Returns:
        `path`.

    Raises:
        TrainingFailed: a file-system failure (disk full, no permission), naming the file; the
            previous version of `path` is intact. Whatever else `write` raises passes through.
    """
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes))
        os.close(handle)
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp creates files readable by their owner only
        os.replace(temporary, path)
    except BaseException as error:
        if temporary:
            Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise TrainingFailed(
                f"cannot write '{path}': {error.strerror or error}; the previous version is intact"
            ) from error
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """Writes `text` to `path` atomically."""
    return write_atomic(path, lambda temporary: temporary.write_text(text))


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    """Writes `rows` as CSV with a header of `columns` (missing entries left empty), atomically."""

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as stream:
            writer = csv.DictWriter(stream, columns)
            writer.writeheader()
            writer.writerows(rows)

    return write_atomic(path, write)


def write_json(path: Path, data: Any) -> Path:
    """Writes `data` as indented JSON to `path` atomically."""
    return write_text(path, json.dumps(data, indent=1) + "\n")
