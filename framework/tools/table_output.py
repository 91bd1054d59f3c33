"""Printing a rich table to standard output: fitted to a terminal, whole lines to a pipe or file."""

from __future__ import annotations

import sys
from typing import Any

UNLIMITED_WIDTH = 10_000  # columns, for output that is not a terminal


def print_table(table: Any) -> None:
    """Prints the rich `table`: on a terminal fitted to its width; otherwise every header and cell
    whole on one line (rich would squeeze it into 80 columns, folding or cutting headers), trailing
    spaces dropped, so ``| grep`` and ``> file`` get complete rows."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    if console.is_terminal:
        console.print(table)
        return
    console.width = UNLIMITED_WIDTH
    with console.capture() as captured:
        console.print(table)
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))
