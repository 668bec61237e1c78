"""Aligned tables for the terminal, drawn by rich (imported here only, and only when used)."""

from __future__ import annotations

import io
import math
import shutil
import sys
from collections.abc import Sequence

# Piped output is not wrapped: `repro runs | grep` must see whole lines.
_PIPE_WIDTH = 10_000


def output_width() -> int:
    """The terminal's width when stdout is one; very wide otherwise."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return _PIPE_WIDTH


def table_text(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    title: str | None = None,
    width: int | None = None,
) -> str:
    """A table with a header line; columns in ``right`` (numbers) are right-aligned."""
    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table

    table = Table(
        box=SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False
    )
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index in right else "left", no_wrap=False)
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width or output_width(), color_system=None, highlight=False
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")


def number(value: object) -> str:
    """A metric or param value, short: 4 significant digits for floats; nan/inf as words."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)
