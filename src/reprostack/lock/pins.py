"""What dev must share with prod: the ``name==version`` pins of both locks compared."""

from __future__ import annotations


def drift(prod: dict[str, str], dev: dict[str, str]) -> list[str]:
    """Return one line per prod package that dev lacks or pins at another version."""
    out = []
    for name, version in sorted(prod.items()):
        if dev.get(name) != version:
            out.append(f"{name}: prod {version}, dev {dev.get(name, 'missing')}")
    return out
