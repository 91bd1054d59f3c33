"""Errors caused by user input: recipes, data files, names and command lines.

Every such error is a `TapelineError`; the CLI prints its message (no traceback) and exits
with its ``exit_code``: 2 for bad input, 1 for `TrainingFailed` (a run that cannot go on, or an
unexpected error inside training) and for `PluginError` (a plugin raised); the traceback of
the cause is shown when it looks like a bug (`TapelineError.shown_cause`),
0 for `NothingToDo` (printed as a plain message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")
KERAS_FRAMING = ("Exception encountered when calling", "Arguments received by", "•")
MAX_SUMMARY = 400  # characters


def error_summary(error: BaseException) -> str:
    """``TypeName: first informative line`` of `error`, without Keras's call framing or colour codes."""
    lines = [line.strip() for line in ANSI_CODES.sub("", str(error)).splitlines()]
    text = next((line for line in lines if line and not line.startswith(KERAS_FRAMING)), "")
    text = text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY] + " ..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class TapelineError(Exception):
    """Bad input from the user; the message says what, where, and what is allowed."""

    exit_code = 2

    @property
    def shown_cause(self) -> BaseException | None:
        """The exception whose traceback the command line prints before the message (a bug's), or None."""
        return None


class TrainingFailed(TapelineError):
    """Training cannot usefully go on (the loss became NaN, a file cannot be written, an error inside `fit`); exit code
    1.

    `cause` is the unexpected exception it stands for, if any; its traceback is shown unless it
    is a file-system error.
    """

    exit_code = 1

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause

    @property
    def shown_cause(self) -> BaseException | None:
        return None if isinstance(self.cause, OSError) else self.cause


class NothingToDo(TapelineError):
    """A command finds nothing to do (resuming a finished run): the CLI prints the message and exits 0."""

    exit_code = 0


class PluginError(TapelineError):
    """A plugin raised inside a hook; names the plugin and the hook. The run stops.

    Exit code 1, or the cause's own exit code when the cause is a `TapelineError` (a plugin
    reporting bad configuration). The traceback is worth showing only for bugs, not for
    `TapelineError`s or file-system errors (disk full, no permission).
    """

    def __init__(self, plugin: str, hook: str, error: BaseException) -> None:
        self.plugin, self.hook, self.error = plugin, hook, error
        self.exit_code = error.exit_code if isinstance(error, TapelineError) else 1
        self.show_traceback = not isinstance(error, (TapelineError, OSError))
        super().__init__(f"plugin {plugin!r} failed in {hook}: {type(error).__name__}: {error}")

    @property
    def shown_cause(self) -> BaseException | None:
        return self.error if self.show_traceback else None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe: where it is (``file:line`` or ``--set ...``) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class RecipeError(TapelineError):
    """All problems found in a recipe, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid recipe ({count}):\n" + "\n".join(f"  {p}" for p in problems))


class DataError(TapelineError):
    """A dataset file is missing, corrupt, or holds data that cannot be trained on."""


class RegistryError(TapelineError, LookupError):
    """A name is not registered; the message lists the registered names."""
