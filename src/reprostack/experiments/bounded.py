"""Parse the files a run wrote or named (configs, metric lines) within budgets.

A hostile file must cost a note and milliseconds: never gigabytes, a traceback or the run.
YAML goes through ``yaml_limits`` (aliases, depth, size); JSON and TOML are checked for depth
before a recursive parser sees them, and anything a parser still raises becomes a ValueError
saying why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reprostack.yaml_limits import MAX_BYTES, MAX_DEPTH

# Quoted strings hold brackets that nest nothing; removed before counting (JSON's "..." with
# escapes, TOML's '...' literals).
_STRINGS_RE = re.compile(r""""(?:[^"\\\n]|\\.)*"|'[^'\n]*'""")
_NOT_BRACKETS_RE = re.compile(r"[^\[\]{}]+")


def check_size(size: int, max_bytes: int = MAX_BYTES) -> None:
    """Raise ValueError when a file of ``size`` bytes is beyond what a settings file may be."""
    if size > max_bytes:
        raise ValueError(f"{size} bytes; a settings file is at most {max_bytes}")


def check_nesting(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError when brackets in ``text`` (outside strings) nest beyond ``max_depth``."""
    brackets = _NOT_BRACKETS_RE.sub("", _STRINGS_RE.sub("", text))
    if len(brackets) <= max_depth:
        return
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
        elif depth:
            depth -= 1


def loads_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` after :func:`check_nesting`; every failure is a ValueError.

    Python refuses integers of more than 4300 digits (a ValueError of its own); NaN and
    Infinity are read, as ``json.dumps`` writes them.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    check_nesting(text, max_depth)
    try:
        return json.loads(text)
    except RecursionError as exc:  # a safety net: check_nesting should have refused it
        raise ValueError(f"nested more than {max_depth} levels deep") from exc


def as_float(value: int | float) -> float:
    """``float(value)``; a ValueError, not an OverflowError, for an integer beyond a float."""
    try:
        return float(value)
    except OverflowError as exc:  # a 400-digit integer
        raise ValueError(f"the number {str(value)[:20]}… is too large for a float") from exc
