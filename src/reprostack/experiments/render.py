"""Aligned text tables for the terminal: a header, a rule, one line per row.

Written here rather than drawn with rich: importing and laying out a rich table costs about
as much as the rest of ``repro runs`` (~0.1 s of a 0.3 s budget over 10,000 runs), and these
tables need nothing but aligned columns. Lines are never wrapped: ``repro runs | grep`` sees
whole rows.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

_GAP = "   "


def table_text(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """The table as text; columns whose index is in ``right`` (numbers) are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        aligned = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return _GAP.join(aligned).rstrip()

    rule = "\u2500" * (sum(widths) + len(_GAP) * (len(widths) - 1))
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


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
    if isinstance(value, int) and value.bit_length() > 64:
        # str() of a huge integer is slow (and refused beyond 4300 digits): say its size.
        return f"{'-' if value < 0 else ''}~2^{value.bit_length() - 1}"
    return str(value)


def short_name(name: str, width: int = 40) -> str:
    """A column header at most ``width`` characters: a hostile 300-character metric name must
    not push every other column off the screen."""
    return name if len(name) <= width else name[: width - 1] + "\u2026"
