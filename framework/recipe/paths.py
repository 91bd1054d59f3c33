"""Paths written in recipes: read relative to the file that wrote them, checked before anything is built.

A dataset builder marks its path arguments with `DataPath` (``train: DataPath.file``); the
recipe check then resolves each relative path against the folder of the recipe file whose line
gave it (``--set`` values against the current folder), checks that it exists, and hands the
builder an absolute path, which is also what the run's ``recipe.yaml`` keeps. Component names
that point into a Python file (``nets/mine.py:build``) are resolved the same way.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

Kind = Literal["file", "folder", "file or folder", "pattern"]
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # gs://, s3://, hdfs://: not local paths


@dataclass(frozen=True)
class DataPathSpec:
    """What a path argument must name: a ``file``, a ``folder``, either, or a glob ``pattern`` matching files."""

    kind: Kind

    def missing(self, path: str) -> bool:
        """Whether the absolute `path` names nothing of this kind (URLs are left to their readers)."""
        if URL.match(path):
            return False
        if self.kind == "pattern":
            return not any(Path(p).is_file() for p in glob.glob(path))
        found = Path(path)
        return not {
            "file": found.is_file(),
            "folder": found.is_dir(),
            "file or folder": found.exists(),
        }[self.kind]

    def resolved(self, value: str, where: str, must_exist: bool = True) -> str:
        """`value`, written at `where` (``file:line`` or ``--set ...``), as an absolute path.

        Raises:
            ValueError: `value` is empty or (when `must_exist`) names nothing of this kind,
                with the path looked at.
        """
        if not value.strip():
            raise ValueError(f"must be a path to a {self.kind} (got {value!r})")
        absolute = resolve(value, origin_folder(where))
        if must_exist and self.missing(absolute):
            found = "no file matches" if self.kind == "pattern" else f"there is no {self.kind}"
            against = "the current folder" if where.startswith("--set") else "the folder of the recipe file"
            raise ValueError(f"{found} {absolute!r} (got {value!r}; a relative path is read against {against})")
        return absolute


class DataPath:
    """Annotations for builder arguments that are paths: ``def csv(train: DataPath.file, ...)``."""

    file = Annotated[str, DataPathSpec("file")]
    folder = Annotated[str, DataPathSpec("folder")]
    file_or_folder = Annotated[str, DataPathSpec("file or folder")]
    pattern = Annotated[str, DataPathSpec("pattern")]


def origin_folder(where: str) -> Path:
    """The folder relative paths are read against for a value written at `where`.

    `where` is a value's origin as recipes record it: ``recipes/a.yaml:12`` gives
    ``recipes/`` (absolute); ``--set key=value`` (or no file) gives the current folder.
    """
    file, colon, line = where.rpartition(":")
    if where.startswith("--set") or not colon or not line.isdigit() or not file:
        return Path.cwd()
    return Path(file).resolve().parent


def resolve(path: str, folder: Path) -> str:
    """`path` as an absolute path: ``~`` expanded, a relative one joined to `folder`; URLs unchanged."""
    if URL.match(path):
        return path
    found = Path(path).expanduser()
    return str(found if found.is_absolute() else folder / found)


def resolve_module_file(name: str, folder: Path) -> str:
    """A component name ``some/file.py:attribute`` with the file made absolute against `folder`;
    other names (``seed_cnn``, ``package.module:attribute``) unchanged."""
    file, colon, attribute = name.rpartition(":")
    if not colon or not file.endswith(".py"):
        return name
    return f"{resolve(file, folder)}:{attribute}"
