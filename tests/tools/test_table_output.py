"""Tests for printing tables: whole lines through a pipe, fitted on a terminal."""

from __future__ import annotations

import io

import rich.console
from rich.table import Table

from framework.tools import table_output

HEADERS = [f"a_long_column_header_{n}" for n in range(8)]


def wide_table() -> Table:
    """A table of 8 columns whose headers alone are over 200 characters."""
    table = Table(box=None)
    for header in HEADERS:
        table.add_column(header)
    table.add_row(*(f"value {n}" for n in range(8)))
    return table


def test_a_pipe_gets_every_header_and_cell_whole(capsys):
    """Off a terminal (pytest captures stdout) the header is one line with every name, the row one line."""
    table_output.print_table(wide_table())
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == HEADERS and row.split() == [part for n in range(8) for part in ("value", str(n))]
    assert header == header.rstrip()


def test_a_terminal_gets_the_table_fitted_to_its_width(monkeypatch):
    """On a terminal of 80 columns no line is wider (headers end in an ellipsis)."""
    screen = io.StringIO()
    real = rich.console.Console
    monkeypatch.setattr(
        rich.console,
        "Console",
        lambda **kwargs: real(**{**kwargs, "file": screen, "force_terminal": True, "width": 80, "color_system": None}),
    )
    table_output.print_table(wide_table())
    lines = screen.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines) and "a_long_…" in lines[0]
