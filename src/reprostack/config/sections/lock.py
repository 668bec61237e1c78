"""``lock:``: how dependencies are pinned."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Literal

from reprostack.config.reader import FieldReader, Reader, Slot, kind
from reprostack.errors import UsageError

LockTool = Literal["pip-tools", "poetry", "uv"]


@dataclass(frozen=True)
class LockConfig:
    """How dependencies are pinned: ``lock:`` in repro.yaml."""

    tool: LockTool | None = None  # None = detect from the inputs
    inputs: tuple[str, ...] = ()
    dev_inputs: tuple[str, ...] = ()
    # Resolve as the index stood then: "2025-06-01" (midnight UTC) or an RFC 3339 time.
    exclude_newer: str | None = None
    # Extras of the project's pyproject.toml (PEP 621 optional-dependencies, Poetry extras)
    # and dependency groups (PEP 735 with uv, Poetry groups) that go into the prod lock.
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


def _exclude_newer(reader: Reader, slot: Slot) -> str | None:
    from reprostack.asof import parse_as_of

    raw: Any = slot.raw
    if raw is None:
        return None
    # YAML reads an unquoted 2025-06-01 as a date: what the user wrote is what they meant.
    if isinstance(raw, (datetime.date, datetime.datetime)):
        text: Any = reader.raw.get(slot.path, raw.isoformat())
    else:
        text = raw
    if not isinstance(text, str):
        reader.problem(slot.path, f"expected a date, got {kind(raw)}")
        return None
    try:
        return parse_as_of(text)
    except UsageError as error:
        reader.problem(slot.path, error.message)
        return None


CHECKS: dict[str, FieldReader] = {"exclude_newer": _exclude_newer}
