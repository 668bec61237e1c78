"""Read the ``name==version`` pins of a lock body (what dev must share with prod)."""

from __future__ import annotations

import re

_PIN_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
)


def canonical(name: str) -> str:
    """Return the PEP 503 normalised form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(body: str) -> dict[str, str]:
    """Return {normalised name: version} for every pinned requirement in ``body``."""
    pins: dict[str, str] = {}
    for line in body.splitlines():
        match = _PIN_RE.match(line)
        if match:
            pins[canonical(match.group("name"))] = match.group("version")
    return pins


def drift(prod: dict[str, str], dev: dict[str, str]) -> list[str]:
    """Return one line per prod package that dev lacks or pins at another version."""
    out = []
    for name, version in sorted(prod.items()):
        if dev.get(name) != version:
            out.append(f"{name}: prod {version}, dev {dev.get(name, 'missing')}")
    return out
