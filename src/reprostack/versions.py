"""Dotted version strings compared as numbers (drivers, CUDA releases, tool versions)."""

from __future__ import annotations


def version_tuple(version: str) -> tuple[int, ...]:
    """``"525.60.13"`` -> ``(525, 60, 13)``; non-numeric parts end the tuple."""
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
